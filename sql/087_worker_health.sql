-- Worker health: what every MemorySql process's workers last reported (memory.worker_health, written by
-- the processes themselves every Workers:Health:IntervalSeconds).

CREATE VIEW memory.worker_status AS
SELECT h.worker, h.target, h.instance,
       CASE WHEN NOT h.running THEN 'stopped'
            WHEN h.heartbeat_at < now() - 3 * h.heartbeat_interval THEN 'lost'
            WHEN h.consecutive_errors > 0 THEN 'failing'
            ELSE 'running' END AS state,
       h.heartbeat_at, h.started_at, h.last_success_at, h.last_error_at, h.last_error, h.consecutive_errors,
       h.processed, h.retried, h.failed, h.queue_depth, h.failed_depth, h.queue_checked_at, h.counters
  FROM memory.worker_health h;
COMMENT ON VIEW memory.worker_status IS
  'Admin: every worker of every MemorySql process sharing this database, with state (running, failing = its last batches failed, lost = no report for three periods, stopped = shut down cleanly), last success, last error, counts and queue depths.';

-- The part of worker health every workspace may see (memory.stats): per worker, no error texts, no instance
-- names. SECURITY DEFINER because workspaces have no rights on memory.worker_health itself.
CREATE OR REPLACE FUNCTION memory.worker_summary()
RETURNS TABLE (key text, value bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  WITH per_worker AS (
    SELECT h.worker || CASE WHEN h.target = '' THEN '' ELSE '/' || h.target END AS name,
           count(*)::bigint AS instances,
           sum(h.processed)::bigint AS processed,
           sum(h.consecutive_errors)::bigint AS consecutive_errors,
           -- for several instances of one worker the freshest success counts
           min(floor(extract(epoch FROM now() - coalesce(h.last_success_at, h.started_at, h.heartbeat_at))))::bigint AS since_success
      FROM memory.worker_health h
     WHERE h.running AND h.heartbeat_at >= now() - 3 * h.heartbeat_interval
     GROUP BY 1)
  SELECT x.key, x.value FROM per_worker w,
         LATERAL (VALUES (w.name || ':instances', w.instances),
                         (w.name || ':processed', w.processed),
                         (w.name || ':consecutive_errors', w.consecutive_errors),
                         (w.name || ':seconds_since_success', w.since_success)) x(key, value)
$$;
COMMENT ON FUNCTION memory.worker_summary() IS
  'Live workers of all MemorySql processes, as (key, value) rows for memory.stats: <worker>[/<target>]:instances, :processed, :consecutive_errors (summed over instances) and :seconds_since_success (the freshest). No error texts or instance names.';
