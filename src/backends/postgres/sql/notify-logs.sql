-- Wake `logs -f` followers for lines already committed: the NOTIFY that completions skipped while
-- a handle's completion notifies are spaced out (context.ts logsChannelNow / notifyLogsLater).
-- Params: $1 log channel text
-- Returns: one row (no columns of use)
SELECT pg_notify($1, '0')
