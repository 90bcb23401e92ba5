-- What an agent should know at the start of a session.

CREATE OR REPLACE FUNCTION memory.briefing_core(p_entity text, p_k integer)
RETURNS TABLE (id uuid, content text, type text, kind text, layer text, entity text, tags text[], importance real,
               created_at timestamptz, reason text, detail jsonb)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
  ent text := coalesce(p_entity, memory.scope_setting('entity'));
  decay record := memory.decay_settings();
BEGIN
  IF p_k IS NULL OR p_k < 1 OR p_k > 1000 THEN
    PERFORM memory.invalid('k', format('%s is outside 1..1000', coalesce(p_k::text, 'NULL')), 'Pass how many memories per section, e.g. k => 10.');
  END IF;
  IF ent = '*' THEN ent := NULL; END IF;
  RETURN QUERY
  WITH scope AS (
    SELECT m.*, memory.effective_importance(m.importance, m.pinned, m.access_count, greatest(m.created_at, m.last_accessed_at),
                                            decay.half_life, decay.floor, decay.access_boost, now()) AS eff
      FROM memory.memories m
     WHERE m.status = 'active' AND (m.expires_at IS NULL OR m.expires_at > now())
       AND (ent IS NULL OR m.entity = ent OR m.entity IS NULL)),
  pinned AS (
    SELECT s.id, 1 AS prio, 'pinned'::text AS reason, NULL::jsonb AS detail, s.eff AS rank_key
      FROM scope s WHERE s.pinned ORDER BY s.eff DESC, s.created_at DESC LIMIT p_k),
  -- Both sides of every open contradiction case (memory.contradictions), newest cases first.
  contradiction AS (
    SELECT x.id, 2, 'contradiction'::text,
           jsonb_build_object('contradiction_id', x.case_id, 'conflicts_with', x.other, 'side', x.side,
                              'verdict', x.verdict, 'detected_at', x.at), x.w::real
      FROM (SELECT c.id AS case_id, c.newer_id AS id, c.older_id AS other, 'newer'::text AS side, c.verdict, c.created_at AS at, c.confidence AS w
              FROM memory.contradiction_cases c WHERE c.state = 'open'
            UNION ALL
            SELECT c.id, c.older_id, c.newer_id, 'older', c.verdict, c.created_at, c.confidence
              FROM memory.contradiction_cases c WHERE c.state = 'open') x
      JOIN scope s ON s.id = x.id
     WHERE EXISTS (SELECT 1 FROM scope o WHERE o.id = x.other)
     ORDER BY x.at DESC LIMIT 2 * p_k),
  summary AS (
    SELECT s.id, 3, 'summary'::text, NULL::jsonb, s.eff FROM scope s
     WHERE s.layer = 'category' OR s.kind = 'summary' ORDER BY s.created_at DESC LIMIT p_k),
  important AS (
    SELECT s.id, 4, 'important'::text, NULL::jsonb, s.eff FROM scope s ORDER BY s.eff DESC, s.created_at DESC LIMIT p_k),
  recent AS (
    SELECT s.id, 5, 'recent'::text, NULL::jsonb, s.eff FROM scope s ORDER BY s.created_at DESC LIMIT p_k),
  everything AS (
    SELECT * FROM pinned UNION ALL SELECT * FROM contradiction UNION ALL SELECT * FROM summary
    UNION ALL SELECT * FROM important UNION ALL SELECT * FROM recent),
  first_reason AS (
    SELECT DISTINCT ON (e.id) e.* FROM everything e ORDER BY e.id, e.prio)
  SELECT s.id, s.content, s.type, s.kind, s.layer, s.entity, s.tags, s.eff, s.created_at, f.reason, f.detail
    FROM first_reason f JOIN scope s ON s.id = f.id
   ORDER BY f.prio, f.rank_key DESC, s.created_at DESC;
END
$$;
COMMENT ON FUNCTION memory.briefing_core(text, integer) IS 'Internal: the implementation of briefing().';

CREATE OR REPLACE FUNCTION memory.briefing(entity text DEFAULT NULL, k integer DEFAULT 10)
RETURNS TABLE (id uuid, content text, type text, kind text, layer text, entity text, tags text[], importance real,
               created_at timestamptz, reason text, detail jsonb)
LANGUAGE sql STABLE AS $$
  SELECT * FROM memory.briefing_core(entity, k)
$$;
COMMENT ON FUNCTION memory.briefing(text, integer) IS
  'What an agent should know at the start of a session about an entity (default: memory.entity; its memories and the workspace''s entity-less ones): pinned, open contradictions, summaries, most important, most recent — up to k each, every memory once, labelled with the reason it is there.';
