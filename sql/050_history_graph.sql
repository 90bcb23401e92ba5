-- History of a memory (versions and events) and graph traversal over associations.

CREATE OR REPLACE FUNCTION memory.history(id uuid)
RETURNS TABLE (at timestamptz, item text, memory_id uuid, version integer, status text, content text,
               action text, actor name, detail jsonb)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
  PERFORM memory.require_memory(history.id);
  RETURN QUERY
  WITH v AS (SELECT x.memory_id, x.version FROM memory.versions(history.id) x)
  SELECT m.created_at, 'version'::text, m.id, v.version, m.status, m.content, NULL::text, NULL::name,
         jsonb_build_object('type', m.type, 'kind', m.kind, 'importance', m.importance, 'tags', to_jsonb(m.tags),
                            'valid_from', m.valid_from, 'valid_to', m.valid_to, 'superseded_by', m.superseded_by)
    FROM v JOIN memory.memories m ON m.id = v.memory_id
  UNION ALL
  SELECT e.at, 'event'::text, e.memory_id, v.version, NULL::text, NULL::text, e.action, e.actor,
         e.detail || jsonb_strip_nulls(jsonb_build_object('old', e.old, 'new', e.new))
    FROM v JOIN memory.events e ON e.memory_id = v.memory_id
  ORDER BY 1, 2 DESC;
END
$$;
COMMENT ON FUNCTION memory.history(uuid) IS
  'Every version of a memory (following superseded_by both ways; version 1 is the oldest) and every audit event about any of them, in time order.';

CREATE OR REPLACE FUNCTION memory.traverse_core(p_start uuid, p_depth integer, p_relations text[], p_direction text)
RETURNS TABLE (id uuid, content text, depth integer, path uuid[], relation text, direction text, weight real, status text)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
  PERFORM memory.require_memory(p_start, 'start');
  IF p_depth IS NULL OR p_depth < 0 OR p_depth > 10 THEN
    PERFORM memory.invalid('depth', format('%s is outside 0..10', coalesce(p_depth::text, 'NULL')), 'Pass how many edges to follow, e.g. depth => 2.');
  END IF;
  PERFORM memory.check_relation(r, 'relations') FROM unnest(p_relations) r;
  IF p_direction IS NULL OR p_direction NOT IN ('out', 'in', 'both') THEN
    PERFORM memory.invalid('direction', format('unknown direction %L', p_direction), 'Allowed: out (source -> target), in, both.');
  END IF;
  RETURN QUERY
  WITH RECURSIVE walk (id, depth, path, relation, direction, weight) AS (
    SELECT p_start, 0, ARRAY[p_start], NULL::text, NULL::text, 1::real
    UNION ALL
    SELECT n.id, w.depth + 1, w.path || n.id, n.relation, n.direction, (w.weight * n.weight)::real
      FROM walk w
      CROSS JOIN LATERAL (
        SELECT a.target_id AS id, a.relation, 'out'::text AS direction, a.weight FROM memory.associations a
         WHERE a.source_id = w.id AND p_direction IN ('out', 'both') AND (p_relations IS NULL OR a.relation = ANY (p_relations))
        UNION ALL
        SELECT a.source_id, a.relation, 'in'::text, a.weight FROM memory.associations a
         WHERE a.target_id = w.id AND p_direction IN ('in', 'both') AND (p_relations IS NULL OR a.relation = ANY (p_relations))) n
      JOIN memory.memories nm ON nm.id = n.id AND nm.status <> 'deleted'
     WHERE w.depth < p_depth AND NOT n.id = ANY (w.path)   -- a node already on the path closes a cycle
  ), shortest AS (
    SELECT DISTINCT ON (w.id) w.* FROM walk w ORDER BY w.id, w.depth, w.weight DESC
  )
  SELECT s.id, m.content, s.depth, s.path, s.relation, s.direction, s.weight, m.status
    FROM shortest s JOIN memory.memories m ON m.id = s.id
   ORDER BY s.depth, s.weight DESC, s.id;
END
$$;
COMMENT ON FUNCTION memory.traverse_core(uuid, integer, text[], text) IS 'Internal: the implementation of traverse().';

CREATE OR REPLACE FUNCTION memory.traverse(start uuid, depth integer DEFAULT 2, relations text[] DEFAULT NULL, direction text DEFAULT 'both')
RETURNS TABLE (id uuid, content text, depth integer, path uuid[], relation text, direction text, weight real, status text)
LANGUAGE sql STABLE AS $$
  SELECT * FROM memory.traverse_core(start, depth, relations, direction)
$$;
COMMENT ON FUNCTION memory.traverse(uuid, integer, text[], text) IS
  'Walks the association graph from a memory up to depth edges (recursive CTE, cycle-safe): each reachable memory once, at its shortest depth, with the path of ids, the last relation and direction, and the product of edge weights. Forgotten memories block the walk.';
