-- serverDurability: the settings that decide whether a committed job survives a server crash.
-- Parameters: none. Returns one row: fsync, synchronous_commit.
SELECT current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS synchronous_commit
