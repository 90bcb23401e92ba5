-- Near duplicates: the check queue (fed when a memory gets its vector), candidate search, and merging a
-- duplicate into the memory it repeats. Exact duplicates never get this far: remember merges them at once
-- (same workspace, entity and content hash). The check worker (src/MemorySql.Workers/Check) drives these
-- routines; docs/lifecycle.md explains the rules.

-- A memory is checked once it has a vector of the default model (the one recall ranks with): one statement
-- of the embed worker enqueues its whole batch and sends one NOTIFY memory_check. Runs as the schema
-- owner: workspaces never write the queue themselves; the rows come from embeddings the caller could write.
CREATE OR REPLACE FUNCTION memory.embeddings_enqueue_checks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  n bigint;
BEGIN
  INSERT INTO memory.check_queue (memory_id, workspace, model)
  SELECT e.memory_id, e.workspace, e.model
    FROM new_embeddings e
    JOIN memory.memories m ON m.id = e.memory_id AND m.status = 'active'
   WHERE e.model = memory.default_model()
  ON CONFLICT (memory_id) DO NOTHING;
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n > 0 THEN
    PERFORM pg_notify('memory_check', '');
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION memory.embeddings_enqueue_checks() IS
  'Trigger (statement level): queues every active memory that just got a vector of the default model in memory.check_queue for the dedup and contradiction checks, and sends NOTIFY memory_check.';
CREATE TRIGGER embeddings_enqueue_checks AFTER INSERT ON memory.embeddings
  REFERENCING NEW TABLE AS new_embeddings FOR EACH STATEMENT EXECUTE FUNCTION memory.embeddings_enqueue_checks();

-- Similarity thresholds for one embedding model: a settings key "dedup_threshold:<model>" /
-- "contradiction_threshold:<model>" (a workspace's over '*') beats the policy columns, because what counts
-- as "very close" depends on the model: the lexical builtin model scores paraphrases far lower than a
-- neural one.
CREATE OR REPLACE FUNCTION memory.check_thresholds(workspace name, model text, OUT dedup real, OUT contradiction real)
LANGUAGE sql STABLE AS $$
  SELECT coalesce(memory.policy_number(p.settings, 'dedup_threshold:' || model, NULL), p.dedup_threshold)::real,
         coalesce(memory.policy_number(p.settings, 'contradiction_threshold:' || model, NULL), p.contradiction_threshold)::real
    FROM memory.policy(workspace) p
$$;
COMMENT ON FUNCTION memory.check_thresholds(name, text) IS
  'The cosine-similarity thresholds of a workspace for one embedding model: dedup (merge at or above) and contradiction (check for a conflict at or above); settings keys dedup_threshold:<model> / contradiction_threshold:<model> override the policy columns.';

-- The nearest neighbours of a memory that a check compares it with: same workspace, same entity (or both
-- without one), same layer, active or archived (an archived duplicate is revived), not expired, by cosine
-- similarity of the given model's vectors (default: the default model), best first.
CREATE OR REPLACE FUNCTION memory.check_candidates(id uuid, k integer DEFAULT 5, model text DEFAULT NULL)
RETURNS TABLE (candidate_id uuid, similarity real, content text, type text, kind text, layer text, status text,
               pinned boolean, created_at timestamptz, valid_from timestamptz)
LANGUAGE plpgsql VOLATILE
SET hnsw.iterative_scan = relaxed_order
AS $$
#variable_conflict use_column
DECLARE
  m memory.memories := memory.require_memory(id);
  mdl memory.models;
  qvec vector;
BEGIN
  IF k IS NULL OR k < 1 OR k > 100 THEN
    PERFORM memory.invalid('k', format('%s is outside 1..100', coalesce(k::text, 'NULL')), 'Pass how many neighbours to return, e.g. k => 5.');
  END IF;
  mdl := memory.check_model(model);
  SELECT e.embedding INTO qvec FROM memory.embeddings e WHERE e.memory_id = m.id AND e.model = mdl.name;
  IF qvec IS NULL THEN
    RETURN;  -- not embedded with that model yet: nothing to compare
  END IF;
  RETURN QUERY EXECUTE format(
    'SELECT c.id, (1 - ((e.embedding::vector(%1$s)) <=> $1))::real, c.content, c.type, c.kind, c.layer, c.status, c.pinned, '
    '       c.created_at, c.valid_from '
    '  FROM memory.embeddings e JOIN memory.memories c ON c.id = e.memory_id '
    ' WHERE e.model = %2$L AND e.workspace = $2 AND c.workspace = $2 AND c.id <> $3 AND %3$s AND c.layer = $5 '
    '   AND c.status IN (''active'', ''archived'') AND (c.expires_at IS NULL OR c.expires_at > now()) '
    ' ORDER BY (e.embedding::vector(%1$s)) <=> $1 LIMIT $6',
    mdl.dimension, mdl.name, CASE WHEN m.entity IS NULL THEN 'c.entity IS NULL' ELSE 'c.entity = $4' END)
  USING qvec, m.workspace, m.id, m.entity, m.layer, k;
END
$$;
COMMENT ON FUNCTION memory.check_candidates(uuid, integer, text) IS
  'The k nearest neighbours (cosine similarity of the model''s vectors, default model by default) a dedup/contradiction check compares a memory with: same workspace, same entity (or both none), same layer, active or archived, unexpired.';

-- Locks two memories in id order (so crossing calls wait instead of deadlocking) and returns them; used by
-- merge_duplicate here and by record_contradiction and resolve_contradiction (sql/150_contradictions.sql).
CREATE OR REPLACE FUNCTION memory.lock_pair(first_id uuid, second_id uuid, first_argument text, second_argument text,
                                            OUT a memory.memories, OUT b memory.memories)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM 1 FROM memory.memories x WHERE x.id IN (first_id, second_id) ORDER BY x.id FOR UPDATE;
  SELECT * INTO a FROM memory.memories x WHERE x.id = first_id;
  IF NOT FOUND THEN
    PERFORM memory.invalid(first_argument, format('no memory %s in this workspace', first_id));
  END IF;
  SELECT * INTO b FROM memory.memories x WHERE x.id = second_id;
  IF NOT FOUND THEN
    PERFORM memory.invalid(second_argument, format('no memory %s in this workspace', second_id));
  END IF;
END
$$;
COMMENT ON FUNCTION memory.lock_pair(uuid, uuid, text, text) IS
  'Internal: locks two memories FOR UPDATE in id order and returns them; 22023 naming the argument when one does not exist.';

-- Merges a near duplicate into the memory it repeats. The survivor absorbs the duplicate's use (access
-- counts added, plus one for the repetition itself; the later last use), the higher importance, the union
-- of tags, the metadata (the newer memory's keys win) and its pin; an archived survivor is revived. The
-- duplicate becomes superseded (superseded_by = survivor, so history(survivor) lists it as a version) and
-- a duplicate_of edge links it to the survivor; both sides are audited ('merge' on the duplicate, 'absorb'
-- on the survivor). Nothing is deleted.
CREATE OR REPLACE FUNCTION memory.merge_duplicate(duplicate uuid, survivor uuid, similarity real DEFAULT NULL, detail jsonb DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
  pair record;
  a memory.memories;
  s memory.memories;
  a_after memory.memories;
  s_after memory.memories;
  a_newer boolean;
  info jsonb;
BEGIN
  IF duplicate IS NULL OR survivor IS NULL THEN
    PERFORM memory.invalid(CASE WHEN duplicate IS NULL THEN 'duplicate' ELSE 'survivor' END, 'must not be NULL', 'Pass two memory ids.');
  END IF;
  IF duplicate = survivor THEN
    PERFORM memory.invalid('survivor', 'a memory cannot be merged into itself');
  END IF;
  IF similarity IS NOT NULL AND NOT (similarity >= -1 AND similarity <= 1) THEN
    PERFORM memory.invalid('similarity', format('%s is outside -1..1', similarity));
  END IF;
  PERFORM memory.check_metadata(detail, 'detail');
  -- Both rows locked in id order, so two merges of the same pair (or crossing pairs) wait instead of deadlocking.
  pair := memory.lock_pair(duplicate, survivor, 'duplicate', 'survivor');
  a := pair.a;
  s := pair.b;
  IF a.workspace <> s.workspace THEN
    PERFORM memory.invalid('survivor', 'memories of different workspaces are never merged');
  END IF;
  IF a.entity IS DISTINCT FROM s.entity THEN
    PERFORM memory.invalid('survivor', format('memories of different entities are never merged (%s and %s)',
      coalesce(a.entity, 'no entity'), coalesce(s.entity, 'no entity')), 'Merge only memories about the same entity.');
  END IF;
  -- States another transaction may have changed since the caller looked: not an error, a skipped merge.
  IF a.status <> 'active' THEN
    RETURN 'skipped: the duplicate is ' || a.status;
  ELSIF s.status NOT IN ('active', 'archived') THEN
    RETURN 'skipped: the survivor is ' || s.status;
  ELSIF a.pinned THEN
    RETURN 'skipped: the duplicate is pinned (a pinned memory is never absorbed; merge the other way)';
  END IF;

  a_newer := (a.created_at, a.id) > (s.created_at, s.id);
  info := jsonb_strip_nulls(jsonb_build_object('similarity', similarity)) || coalesce(detail, '{}');
  -- The duplicate first: it gives up the exact-duplicate slot before a revived survivor takes one.
  UPDATE memory.memories x
     SET status = 'superseded', superseded_by = s.id, valid_to = greatest(x.valid_from, s.valid_from), updated_at = now()
   WHERE x.id = a.id
  RETURNING * INTO a_after;
  UPDATE memory.memories x
     SET status = 'active',
         access_count = x.access_count + a.access_count + 1,
         last_accessed_at = greatest(x.last_accessed_at, a.last_accessed_at, a.created_at),
         importance = greatest(x.importance, a.importance),
         tags = (SELECT coalesce(array_agg(DISTINCT t ORDER BY t), '{}') FROM unnest(x.tags || a.tags) t),
         metadata = CASE WHEN a_newer THEN x.metadata || a.metadata ELSE a.metadata || x.metadata END,
         pinned = x.pinned OR a.pinned,
         expires_at = CASE WHEN x.expires_at IS NULL OR a.expires_at IS NULL THEN NULL ELSE greatest(x.expires_at, a.expires_at) END,
         updated_at = now()
   WHERE x.id = s.id
  RETURNING * INTO s_after;
  -- Recall hits of the duplicate not folded yet (memory.access_log) count for the survivor when folded.
  UPDATE memory.access_log l SET memory_id = s.id WHERE l.memory_id = a.id AND l.workspace = a.workspace;
  INSERT INTO memory.associations AS e (source_id, target_id, relation, workspace, weight, metadata)
  VALUES (a.id, s.id, 'duplicate_of', a.workspace, greatest(coalesce(similarity, 1), 0), info || jsonb_build_object('merged_at', now()))
  ON CONFLICT (source_id, target_id, relation) DO UPDATE SET metadata = e.metadata || excluded.metadata, updated_at = now();
  INSERT INTO memory.events (workspace, action, memory_id, entity, old, new, detail)
  VALUES (a.workspace, 'merge', a.id, a.entity, memory.audit_fields(a), memory.audit_fields(a_after),
          info || jsonb_build_object('into', s.id)),
         (s.workspace, 'absorb', s.id, s.entity, memory.audit_fields(s), memory.audit_fields(s_after),
          info || jsonb_build_object('from', a.id, 'access_count', s_after.access_count, 'revived', s.status = 'archived'));
  RETURN CASE WHEN s.status = 'archived' THEN 'merged (survivor revived)' ELSE 'merged' END;
END
$$;
COMMENT ON FUNCTION memory.merge_duplicate(uuid, uuid, real, jsonb) IS
  'Merges a near-duplicate memory into the one it repeats (same workspace and entity): the survivor absorbs access counts (+1), last use, the higher importance, tags, metadata and pin (an archived survivor is revived); the duplicate becomes superseded (superseded_by = survivor) with a duplicate_of edge; both audited. Returns ''merged'' or ''skipped: <why>'' when the duplicate is no longer active, is pinned, or the survivor is gone. 22023 for unknown ids or different entities.';

-- What the check worker still has to do, and what it gave up on.
CREATE VIEW memory.check_status WITH (security_invoker = true) AS
SELECT q.memory_id, q.workspace, m.entity, q.model,
       CASE WHEN q.state = 'queued' AND q.claim IS NOT NULL AND q.run_after > now() THEN 'checking' ELSE q.state END AS state,
       q.attempts, q.llm_attempts, q.last_error, q.run_after, q.enqueued_at, q.updated_at, left(m.content, 80) AS preview
  FROM memory.check_queue q JOIN memory.memories m ON m.id = q.memory_id;
COMMENT ON VIEW memory.check_status IS
  'Memories waiting for their dedup and contradiction check (state queued; checking while a worker holds its lease; with attempts, LLM attempts and last_error) or given up on after the last attempt (state failed).';

CALL memory.isolate_workspace_rows('check_queue');
GRANT SELECT ON memory.check_queue, memory.check_status TO memory_user;
REVOKE ALL ON FUNCTION memory.embeddings_enqueue_checks() FROM PUBLIC;
REVOKE ALL ON FUNCTION memory.check_thresholds(name, text), memory.check_candidates(uuid, integer, text),
  memory.lock_pair(uuid, uuid, text, text), memory.merge_duplicate(uuid, uuid, real, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.check_thresholds(name, text), memory.check_candidates(uuid, integer, text),
  memory.lock_pair(uuid, uuid, text, text), memory.merge_duplicate(uuid, uuid, real, jsonb) TO memory_user;
