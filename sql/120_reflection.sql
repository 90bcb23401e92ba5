-- Reflection: category-layer summaries of groups of item memories, written by the reflection worker, and
-- the context the proxy needs to have reflect() answered by an LLM.
--
-- A group is (workspace, entity, topic); its topics are the memory's kind ('kind:preference') and each of
-- its tags ('tag:travel'). Every change to an item memory that can change a group — insert, a status change
-- (forgotten, superseded, archived, restored), new content, kind, tags, entity or expiry, a hard delete —
-- adds a mark to memory.reflection_queue for each group it belongs to (before and after the change). The
-- worker re-summarises only marked groups and revises the group's previous summary (history is kept).

-- The topics an item memory belongs to. Summaries and reflections are never members.
CREATE OR REPLACE FUNCTION memory.reflection_topics(kind text, tags text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN kind = 'summary' THEN '{}'::text[] ELSE ARRAY['kind:' || kind] END
         || ARRAY(SELECT 'tag:' || t FROM unnest(coalesce(tags, '{}')) t WHERE t NOT IN ('reflection', 'summary') ORDER BY t)
$$;
COMMENT ON FUNCTION memory.reflection_topics(text, text[]) IS
  'The reflection groups (topics) of an item memory: kind:<kind> (except summaries) and tag:<tag> for each tag (except reflection and summary).';

-- Trigger: marks the groups a changed item memory belonged to and belongs to. SECURITY DEFINER (fixed
-- search_path) because workspaces do not write memory.reflection_queue themselves; it only ever writes the
-- workspace of the row the caller was allowed to change.
CREATE OR REPLACE FUNCTION memory.reflection_mark() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  INSERT INTO memory.reflection_queue (workspace, entity, topic)
  SELECT DISTINCT g.workspace, g.entity, g.topic FROM (
    SELECT OLD.workspace AS workspace, coalesce(OLD.entity, '') AS entity, t AS topic
      FROM unnest(memory.reflection_topics(OLD.kind, OLD.tags)) t
     WHERE TG_OP IN ('UPDATE', 'DELETE') AND OLD.layer = 'item'
    UNION ALL
    SELECT NEW.workspace, coalesce(NEW.entity, ''), t
      FROM unnest(memory.reflection_topics(NEW.kind, NEW.tags)) t
     WHERE TG_OP IN ('INSERT', 'UPDATE') AND NEW.layer = 'item') g;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION memory.reflection_mark() IS
  'Trigger: adds a memory.reflection_queue mark for every reflection group an item memory belonged to or belongs to after an insert, delete or relevant update.';

CREATE TRIGGER memories_reflection_insert AFTER INSERT ON memory.memories
  FOR EACH ROW WHEN (NEW.layer = 'item') EXECUTE FUNCTION memory.reflection_mark();
-- Access statistics (every recall) and importance changes do not fire it: the WHEN clause is checked first.
CREATE TRIGGER memories_reflection_update AFTER UPDATE ON memory.memories
  FOR EACH ROW WHEN ((OLD.layer = 'item' OR NEW.layer = 'item')
                     AND (OLD.status IS DISTINCT FROM NEW.status OR OLD.content_hash IS DISTINCT FROM NEW.content_hash
                          OR OLD.kind IS DISTINCT FROM NEW.kind OR OLD.tags IS DISTINCT FROM NEW.tags
                          OR OLD.entity IS DISTINCT FROM NEW.entity OR OLD.layer IS DISTINCT FROM NEW.layer
                          OR OLD.expires_at IS DISTINCT FROM NEW.expires_at))
  EXECUTE FUNCTION memory.reflection_mark();
CREATE TRIGGER memories_reflection_delete AFTER DELETE ON memory.memories
  FOR EACH ROW WHEN (OLD.layer = 'item') EXECUTE FUNCTION memory.reflection_mark();

-- The members of a group the worker summarises: active, unexpired item memories of the entity ('' = none)
-- with that kind or tag, the most important first (then the newest), at most p_limit.
CREATE OR REPLACE FUNCTION memory.reflection_members(p_workspace name, p_entity text, p_topic text, p_limit integer DEFAULT 50)
RETURNS TABLE (id uuid, content text, kind text, importance real, created_at timestamptz, valid_from timestamptz, content_hash bytea)
LANGUAGE sql STABLE AS $$
  SELECT m.id, m.content, m.kind, memory.effective_importance(m), m.created_at, m.valid_from, m.content_hash
    FROM memory.memories m
   WHERE m.workspace = p_workspace
     AND ((p_entity = '' AND m.entity IS NULL) OR m.entity = nullif(p_entity, ''))
     AND m.layer = 'item' AND m.status = 'active' AND (m.expires_at IS NULL OR m.expires_at > now())
     AND CASE WHEN p_topic LIKE 'kind:%' THEN m.kind = substr(p_topic, 6)
              WHEN p_topic LIKE 'tag:%' THEN m.tags @> ARRAY[substr(p_topic, 5)]
              ELSE false END
   ORDER BY memory.effective_importance(m) DESC, m.created_at DESC, m.id
   LIMIT greatest(p_limit, 1)
$$;
COMMENT ON FUNCTION memory.reflection_members(name, text, text, integer) IS
  'Internal (reflection worker): the members of a reflection group — active item memories of the workspace, entity ('''' = none) and topic (kind:<kind> or tag:<tag>), most important and newest first, at most p_limit.';

-- What the reflection worker has done per group (workspaces see their own).
CREATE VIEW memory.reflection_status WITH (security_invoker = true) AS
SELECT g.workspace, nullif(g.entity, '') AS entity, g.topic, g.summary_id, g.members, g.mode, g.state, g.attempts,
       g.last_error, g.run_after, g.summarized_at,
       (SELECT count(*) FROM memory.reflection_queue q
         WHERE q.workspace = g.workspace AND q.entity = g.entity AND q.topic = g.topic) AS pending_marks
  FROM memory.reflection_groups g
UNION ALL
SELECT q.workspace, nullif(q.entity, ''), q.topic, NULL, NULL, NULL, 'pending', 0, NULL, NULL, NULL, count(*)
  FROM memory.reflection_queue q
 WHERE NOT EXISTS (SELECT 1 FROM memory.reflection_groups g WHERE g.workspace = q.workspace AND g.entity = q.entity AND g.topic = q.topic)
 GROUP BY q.workspace, q.entity, q.topic;
COMMENT ON VIEW memory.reflection_status IS
  'Reflection groups (workspace, entity, topic): their current summary, members summarised, mode (llm or extractive), state (ok, retry, failed, or pending for a group never summarised yet), attempts, last_error and marks still waiting.';

-- Summaries built from some memories: every version of every category-layer memory with a summarizes edge
-- to one of them. Forgetting a memory forgets the summaries that repeat it (the reflection worker writes
-- fresh ones without it).
CREATE OR REPLACE FUNCTION memory.summaries_of(ids uuid[]) RETURNS uuid[]
LANGUAGE sql STABLE AS $$
  SELECT coalesce(array_agg(DISTINCT v.memory_id), '{}')
    FROM memory.associations a
    JOIN memory.memories s ON s.id = a.source_id AND s.layer = 'category',
         memory.versions(a.source_id) v
   WHERE a.relation = 'summarizes' AND a.target_id = ANY (ids) AND NOT (a.source_id = ANY (ids))
$$;
COMMENT ON FUNCTION memory.summaries_of(uuid[]) IS
  'Every version of every category-layer memory (summary, reflection) with a summarizes edge to one of the given memories: what forget and forget_subject forget with them.';

-- Removes the reflection bookkeeping of an entity (forget_subject) so its name does not outlive it.
CREATE OR REPLACE FUNCTION memory.reflection_forget_entity(workspace name, entity text) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  DELETE FROM memory.reflection_queue q
   WHERE q.workspace = reflection_forget_entity.workspace AND q.entity = reflection_forget_entity.entity
     AND (reflection_forget_entity.workspace = session_user OR pg_has_role(session_user, reflection_forget_entity.workspace, 'MEMBER'));
  DELETE FROM memory.reflection_groups g
   WHERE g.workspace = reflection_forget_entity.workspace AND g.entity = reflection_forget_entity.entity
     AND (reflection_forget_entity.workspace = session_user OR pg_has_role(session_user, reflection_forget_entity.workspace, 'MEMBER'));
$$;
COMMENT ON FUNCTION memory.reflection_forget_entity(name, text) IS
  'Internal: deletes the reflection marks and group rows of an entity, for forget_subject (the entity''s name must not survive it). Refuses callers outside the workspace.';
