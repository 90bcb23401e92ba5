-- Decay: archiving memories whose effective importance (sql/010_util.sql, docs/lifecycle.md) has fallen
-- below the policy's archive_threshold and that were not used for at least archive_min_age. Archived
-- memories are never deleted: history, include_archived and as_of still see them, and the check worker
-- revives one when the same fact is remembered again.

-- One batch of a decay pass. A pass walks active, unpinned memories in (created_at, id) order — the order
-- of memories_decay_idx — from the keyset position the previous batch returned, so every memory is looked
-- at once per pass however many batches it takes. Rows are locked FOR UPDATE SKIP LOCKED, and the
-- condition is re-checked on the locked row (a recall that touched it meanwhile keeps it active), so
-- passes running at once on several instances never archive a memory twice.
CREATE OR REPLACE FUNCTION memory.archive_decayed(batch_size integer DEFAULT 1000,
                                                  after_created timestamptz DEFAULT NULL, after_id uuid DEFAULT NULL)
RETURNS TABLE (scanned integer, archived integer, last_created timestamptz, last_id uuid)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
  -- Nothing used more recently than the smallest archive_min_age of any visible policy can be due.
  cutoff timestamptz := now() - coalesce((SELECT min(p.archive_min_age) FROM memory.policies p), interval '90 days');
BEGIN
  IF batch_size IS NULL OR batch_size < 1 OR batch_size > 100000 THEN
    PERFORM memory.invalid('batch_size', format('%s is outside 1..100000', coalesce(batch_size::text, 'NULL')),
      'Pass how many memories to look at in this batch, e.g. batch_size => 1000.');
  END IF;
  IF (after_created IS NULL) <> (after_id IS NULL) THEN
    PERFORM memory.invalid(CASE WHEN after_created IS NULL THEN 'after_created' ELSE 'after_id' END,
      'after_created and after_id go together', 'Pass both from the previous batch''s last_created and last_id, or neither to start a pass.');
  END IF;
  -- Recall's access hits not folded yet count: a memory recalled a moment ago is not due.
  PERFORM memory.fold_access(1000000);
  RETURN QUERY
  WITH page AS (
    SELECT m.id, m.created_at FROM memory.memories m
     WHERE m.status = 'active' AND NOT m.pinned AND m.created_at <= cutoff
       AND (after_created IS NULL OR (m.created_at, m.id) > (after_created, after_id))
     ORDER BY m.created_at, m.id
     LIMIT batch_size),
  due AS (
    SELECT m.id, m.workspace, m.entity, m.importance, m.access_count, greatest(m.created_at, m.last_accessed_at) AS last_used,
           memory.effective_importance(m.importance, m.pinned, m.access_count, greatest(m.created_at, m.last_accessed_at),
                                       coalesce(p.decay_half_life, d.decay_half_life), coalesce(p.decay_floor, d.decay_floor),
                                       memory.policy_number(CASE WHEN p.settings ? 'decay.access_boost' THEN p.settings ELSE d.settings END,
                                                            'decay.access_boost', 0.2)::real,
                                       now()) AS effective,
           coalesce(p.archive_threshold, d.archive_threshold) AS threshold
      FROM memory.memories m
      LEFT JOIN memory.policies p ON p.workspace = m.workspace
      LEFT JOIN memory.policies d ON d.workspace = '*'
     WHERE m.id IN (SELECT g.id FROM page g)
       AND m.status = 'active' AND NOT m.pinned
       AND greatest(m.created_at, m.last_accessed_at) <= now() - coalesce(p.archive_min_age, d.archive_min_age)
       AND memory.effective_importance(m.importance, m.pinned, m.access_count, greatest(m.created_at, m.last_accessed_at),
                                       coalesce(p.decay_half_life, d.decay_half_life), coalesce(p.decay_floor, d.decay_floor),
                                       memory.policy_number(CASE WHEN p.settings ? 'decay.access_boost' THEN p.settings ELSE d.settings END,
                                                            'decay.access_boost', 0.2)::real,
                                       now()) < coalesce(p.archive_threshold, d.archive_threshold)
       FOR UPDATE OF m SKIP LOCKED),
  changed AS (
    UPDATE memory.memories m SET status = 'archived', updated_at = now()
      FROM due
     WHERE m.id = due.id
    RETURNING m.id, m.workspace, m.entity, due.importance, due.access_count, due.last_used, due.effective, due.threshold),
  audited AS (
    INSERT INTO memory.events (workspace, action, memory_id, entity, old, new, detail)
    SELECT c.workspace, 'archive', c.id, c.entity, jsonb_build_object('status', 'active'), jsonb_build_object('status', 'archived'),
           jsonb_build_object('reason', 'decay', 'effective_importance', c.effective, 'archive_threshold', c.threshold,
                              'importance', c.importance, 'access_count', c.access_count, 'last_used', c.last_used)
      FROM changed c
    RETURNING 1),
  last AS (
    SELECT g.created_at, g.id FROM page g ORDER BY g.created_at DESC, g.id DESC LIMIT 1)
  SELECT (SELECT count(*) FROM page)::integer, (SELECT count(*) FROM audited)::integer,
         (SELECT l.created_at FROM last l), (SELECT l.id FROM last l);
END
$$;
COMMENT ON FUNCTION memory.archive_decayed(integer, timestamptz, uuid) IS
  'One batch of a decay pass: looks at up to batch_size active, unpinned memories (oldest first, after the keyset position after_created/after_id) and archives those not used for archive_min_age whose effective importance is below archive_threshold (audited as ''archive'' events; never deleted). Returns how many it looked at and archived and the position to pass to the next batch; scanned = 0 means the pass is complete. Safe to run concurrently (FOR UPDATE SKIP LOCKED).';

-- A whole pass in one call, for operators and tests (the decay worker runs the batches itself, one
-- transaction each).
CREATE OR REPLACE FUNCTION memory.archive_decayed_all(batch_size integer DEFAULT 1000)
RETURNS TABLE (scanned bigint, archived bigint)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
  r record;
  pos_created timestamptz;
  pos_id uuid;
  total_scanned bigint := 0;
  total_archived bigint := 0;
BEGIN
  LOOP
    SELECT * INTO r FROM memory.archive_decayed(batch_size, pos_created, pos_id);
    EXIT WHEN r.scanned = 0;
    total_scanned := total_scanned + r.scanned;
    total_archived := total_archived + r.archived;
    pos_created := r.last_created;
    pos_id := r.last_id;
  END LOOP;
  scanned := total_scanned;
  archived := total_archived;
  RETURN NEXT;
END
$$;
COMMENT ON FUNCTION memory.archive_decayed_all(integer) IS
  'A whole decay pass in the current transaction (batches of archive_decayed until none is left). Returns the memories looked at and archived.';

REVOKE ALL ON FUNCTION memory.archive_decayed(integer, timestamptz, uuid), memory.archive_decayed_all(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.archive_decayed(integer, timestamptz, uuid), memory.archive_decayed_all(integer) TO memory_user;
