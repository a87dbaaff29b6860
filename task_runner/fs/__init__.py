"""The ground: files and folders, made safe and fast on every system.

Reading and writing without following another account's links (safedir,
reading), copying bytes and metadata (fileio, metadata), deleting and the
worker pool (removal, pool), locks between processes (locking), priority,
what kind of drive a path is on (filesystems), who may change a folder
(links, private_folder) and the places a person picks a folder from
(places). Nothing here knows about tasks, snapshots or the schedule.
"""
