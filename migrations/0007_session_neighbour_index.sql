-- 0007: recall's context signal looks up each top candidate's neighbours in its session (the memory just
-- before and just after it). memories_session_idx (session_id) and memories_session_time_idx (session_id,
-- valid_from) both answer "memories of this session"; with both present the planner took the first and read
-- and sorted every memory of the session per probe, where the second reads one entry in order. The second
-- serves every query the first did (its leading column), so the first goes: recall at 100,000 memories spends
-- ~1 ms less on neighbours, and writes maintain one index fewer.
DROP INDEX IF EXISTS memory.memories_session_idx;
