-- Contradictions: recording a conflict between two memories (by the check worker, or by hand), settling
-- it automatically when the newer memory clearly replaces the older one, and by hand otherwise. The older
-- memory is superseded, never deleted: history() and recall(as_of => t) still show what was believed when.
-- The view memory.contradictions (sql/090_views.sql) lists the open cases; docs/lifecycle.md has the rules.

-- Supersedes one memory by another (the contradiction's outcome): status superseded, superseded_by, and
-- valid_to = the replacement's valid_from (never before its own valid_from), audited as 'supersede'.
CREATE OR REPLACE FUNCTION memory.supersede_by(old memory.memories, replacement memory.memories, contradiction_id bigint, why jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  after memory.memories;
BEGIN
  UPDATE memory.memories x
     SET status = 'superseded', superseded_by = replacement.id,
         valid_to = greatest(x.valid_from, least(coalesce(x.valid_to, 'infinity'), replacement.valid_from)), updated_at = now()
   WHERE x.id = old.id
  RETURNING * INTO after;
  INSERT INTO memory.events (workspace, action, memory_id, entity, old, new, detail)
  VALUES (old.workspace, 'supersede', old.id, old.entity, memory.audit_fields(old), memory.audit_fields(after),
          coalesce(why, '{}') || jsonb_build_object('by', replacement.id, 'contradiction_id', contradiction_id));
END
$$;
COMMENT ON FUNCTION memory.supersede_by(memory.memories, memory.memories, bigint, jsonb) IS
  'Internal: marks a memory superseded by another (superseded_by, valid_to = the replacement''s valid_from) and audits it as ''supersede''.';

CREATE OR REPLACE FUNCTION memory.check_verdict(verdict text, method text, confidence real) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF verdict IS NULL OR verdict NOT IN ('contradicts', 'updates') THEN
    PERFORM memory.invalid('verdict', format('unknown verdict %L', verdict),
      'Allowed: contradicts (they cannot both be true), updates (the newer replaces the older: a changed value).');
  END IF;
  IF method IS NULL OR method NOT IN ('llm', 'heuristic', 'manual') THEN
    PERFORM memory.invalid('method', format('unknown method %L', method), 'Allowed: llm, heuristic, manual.');
  END IF;
  IF confidence IS NULL OR NOT (confidence >= 0 AND confidence <= 1) THEN
    PERFORM memory.invalid('confidence', format('%s is outside 0..1', coalesce(confidence::text, 'NULL')));
  END IF;
END
$$;
COMMENT ON FUNCTION memory.check_verdict(text, text, real) IS 'Validates a contradiction verdict (contradicts, updates), method (llm, heuristic, manual) and confidence (0–1).';

-- Records that two memories conflict. With resolve => true the newer supersedes the older at once
-- (outcome 'superseded'); otherwise the case stays open for a person (outcome 'opened'). Idempotent per
-- pair: a pair that already has a case returns it unchanged (outcome 'exists').
CREATE OR REPLACE FUNCTION memory.record_contradiction(
  newer uuid, older uuid, verdict text DEFAULT 'contradicts', method text DEFAULT 'manual', confidence real DEFAULT 1,
  similarity real DEFAULT NULL, reason text DEFAULT NULL, resolve boolean DEFAULT false, detail jsonb DEFAULT NULL)
RETURNS TABLE (contradiction_id bigint, outcome text)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
  pair record;
  n memory.memories;
  o memory.memories;
  existing memory.contradiction_cases;
  case_id bigint;
  info jsonb;
BEGIN
  IF newer IS NULL OR older IS NULL THEN
    PERFORM memory.invalid(CASE WHEN newer IS NULL THEN 'newer' ELSE 'older' END, 'must not be NULL', 'Pass two memory ids.');
  END IF;
  IF newer = older THEN
    PERFORM memory.invalid('older', 'a memory cannot contradict itself');
  END IF;
  PERFORM memory.check_verdict(verdict, method, confidence);
  PERFORM memory.check_metadata(detail, 'detail');
  pair := memory.lock_pair(newer, older, 'newer', 'older');
  n := pair.a;
  o := pair.b;
  IF n.workspace <> o.workspace THEN
    PERFORM memory.invalid('older', 'memories of different workspaces cannot contradict each other');
  END IF;
  IF n.entity IS DISTINCT FROM o.entity THEN
    PERFORM memory.invalid('older', format('the memories are about different entities (%s and %s)',
      coalesce(n.entity, 'no entity'), coalesce(o.entity, 'no entity')), 'A contradiction is between two memories about the same entity.');
  END IF;
  SELECT * INTO existing FROM memory.contradiction_cases c
   WHERE least(c.newer_id, c.older_id) = least(n.id, o.id) AND greatest(c.newer_id, c.older_id) = greatest(n.id, o.id);
  IF FOUND THEN
    contradiction_id := existing.id;
    outcome := 'exists';
    RETURN NEXT;
    RETURN;
  END IF;
  IF n.status <> 'active' OR o.status <> 'active' THEN
    contradiction_id := NULL;
    outcome := format('skipped: the %s memory is %s', CASE WHEN n.status <> 'active' THEN 'newer' ELSE 'older' END,
                      CASE WHEN n.status <> 'active' THEN n.status ELSE o.status END);
    RETURN NEXT;
    RETURN;
  END IF;

  INSERT INTO memory.contradiction_cases AS c (workspace, newer_id, older_id, entity, verdict, method, confidence, similarity,
                                               reason, state, resolution, resolved_by, resolved_at, detail)
  VALUES (n.workspace, n.id, o.id, n.entity, verdict, method, confidence, similarity, nullif(btrim(reason), ''),
          CASE WHEN resolve THEN 'resolved' ELSE 'open' END, CASE WHEN resolve THEN 'newer' END,
          CASE WHEN resolve THEN ('auto:' || method)::name END, CASE WHEN resolve THEN now() END, coalesce(detail, '{}'))
  RETURNING c.id INTO case_id;
  info := jsonb_build_object('contradiction_id', case_id, 'verdict', verdict, 'method', method, 'confidence', confidence)
          || jsonb_strip_nulls(jsonb_build_object('similarity', similarity, 'reason', nullif(btrim(reason), '')));
  -- The graph fact: newer contradicts older. A settled edge carries its resolution (as resolve_contradiction writes it).
  INSERT INTO memory.associations AS e (source_id, target_id, relation, workspace, weight, metadata)
  VALUES (n.id, o.id, 'contradicts', n.workspace, confidence,
          info || CASE WHEN resolve THEN jsonb_build_object('resolution', 'newer', 'resolved_at', now(), 'resolved_by', 'auto:' || method)
                       ELSE '{}' END)
  ON CONFLICT (source_id, target_id, relation) DO UPDATE SET metadata = e.metadata || excluded.metadata, updated_at = now();
  INSERT INTO memory.events (workspace, action, memory_id, entity, old, new, detail)
  VALUES (n.workspace, 'contradiction', n.id, n.entity, NULL, NULL,
          info || coalesce(detail, '{}') || jsonb_build_object('older', o.id, 'state', CASE WHEN resolve THEN 'resolved' ELSE 'open' END));
  IF resolve THEN
    PERFORM memory.supersede_by(o, n, case_id, jsonb_build_object('reason', 'contradiction', 'verdict', verdict, 'method', method));
  END IF;
  contradiction_id := case_id;
  outcome := CASE WHEN resolve THEN 'superseded' ELSE 'opened' END;
  RETURN NEXT;
END
$$;
COMMENT ON FUNCTION memory.record_contradiction(uuid, uuid, text, text, real, real, text, boolean, jsonb) IS
  'Records a conflict between two active memories of the same entity: a contradiction case, a contradicts edge newer -> older and a ''contradiction'' event. resolve => true settles it at once: the older memory becomes superseded by the newer (valid_to = the newer''s valid_from). Returns (contradiction_id, outcome): superseded, opened, exists (the pair already has a case) or skipped: <why>.';

-- Settles an open contradiction by hand.
CREATE OR REPLACE PROCEDURE memory.resolve_contradiction(id bigint, keep text, note text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
  c memory.contradiction_cases;
  pair record;
  n memory.memories;
  o memory.memories;
  superseded uuid;
  why jsonb;
BEGIN
  IF id IS NULL THEN
    PERFORM memory.invalid('id', 'must not be NULL', 'Pass the id of a contradiction: SELECT id FROM memory.contradictions.');
  END IF;
  IF keep IS NULL OR keep NOT IN ('newer', 'older', 'both') THEN
    PERFORM memory.invalid('keep', format('%L is not newer, older or both', keep),
      'keep => ''newer'' (the newer memory replaces the older), ''older'' (the newer one is wrong) or ''both'' (both hold, e.g. in different contexts).');
  END IF;
  SELECT * INTO c FROM memory.contradiction_cases x WHERE x.id = resolve_contradiction.id FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM memory.invalid('id', format('no contradiction %s in this workspace', id), 'SELECT id FROM memory.contradictions lists the open ones.');
  END IF;
  IF c.state = 'resolved' THEN
    RAISE EXCEPTION 'MemorySql: contradiction % was already resolved (keep => %) by % at %', c.id, c.resolution, c.resolved_by, c.resolved_at
      USING ERRCODE = 'P0001', HINT = 'A settled contradiction stays settled; revise or forget the memories themselves to change them.';
  END IF;
  pair := memory.lock_pair(c.newer_id, c.older_id, 'id', 'id');
  n := pair.a;
  o := pair.b;
  why := jsonb_build_object('reason', 'contradiction', 'keep', keep) || jsonb_strip_nulls(jsonb_build_object('note', note));
  IF keep = 'newer' THEN
    IF n.status NOT IN ('active', 'archived') THEN
      PERFORM memory.invalid('keep', format('the newer memory %s is %s and cannot be kept', n.id, n.status), 'keep => ''older'' or ''both'', or revise the memories.');
    END IF;
    IF o.status IN ('active', 'archived') THEN
      PERFORM memory.supersede_by(o, n, c.id, why);
      superseded := o.id;
    END IF;
  ELSIF keep = 'older' THEN
    IF o.status NOT IN ('active', 'archived') THEN
      PERFORM memory.invalid('keep', format('the older memory %s is %s and cannot be kept', o.id, o.status), 'keep => ''newer'' or ''both'', or revise the memories.');
    END IF;
    IF n.status IN ('active', 'archived') THEN
      -- The newer memory was wrong: superseded by the older one, whose valid_from is not later than its own,
      -- so valid_to = its own valid_from: as_of never shows it.
      PERFORM memory.supersede_by(n, o, c.id, why);
      superseded := n.id;
    END IF;
  END IF;
  UPDATE memory.contradiction_cases x
     SET state = 'resolved', resolution = keep, note = nullif(btrim(resolve_contradiction.note), ''),
         resolved_by = session_user, resolved_at = now()
   WHERE x.id = c.id;
  INSERT INTO memory.associations AS e (source_id, target_id, relation, workspace, weight, metadata)
  VALUES (n.id, o.id, 'contradicts', c.workspace, c.confidence,
          jsonb_build_object('contradiction_id', c.id, 'resolution', keep, 'resolved_at', now(), 'resolved_by', session_user))
  ON CONFLICT (source_id, target_id, relation) DO UPDATE SET metadata = e.metadata || excluded.metadata, updated_at = now();
  INSERT INTO memory.events (workspace, action, memory_id, entity, old, new, detail)
  VALUES (c.workspace, 'resolve_contradiction', n.id, n.entity, jsonb_build_object('state', 'open'),
          jsonb_build_object('state', 'resolved', 'resolution', keep),
          why || jsonb_build_object('contradiction_id', c.id, 'older', o.id, 'superseded', superseded));
END
$$;
COMMENT ON PROCEDURE memory.resolve_contradiction(bigint, text, text) IS
  'Settles an open contradiction: keep => ''newer'' supersedes the older memory by the newer, ''older'' supersedes the newer by the older (the newer never counts as valid), ''both'' keeps both active; records who, when and the note on the case and its contradicts edge, audited. 22023 for an unknown id or keep, P0001 when already resolved.';

-- A contradicts edge written by hand (CALL associate(a, b, 'contradicts')) opens a case for review, so it
-- shows in memory.contradictions and briefing like one the check worker found.
CREATE OR REPLACE FUNCTION memory.associations_open_case() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  s memory.memories;
  t memory.memories;
  source_newer boolean;
BEGIN
  IF NEW.metadata ? 'contradiction_id' OR NEW.metadata ? 'resolution' THEN
    RETURN NULL;  -- written by record_contradiction / resolve_contradiction, which keep their own case
  END IF;
  SELECT * INTO s FROM memory.memories x WHERE x.id = NEW.source_id;
  SELECT * INTO t FROM memory.memories x WHERE x.id = NEW.target_id;
  IF s.entity IS DISTINCT FROM t.entity THEN
    RETURN NULL;  -- a free-form edge across entities: kept as a graph fact, not a case
  END IF;
  source_newer := (s.valid_from, s.created_at, s.id) >= (t.valid_from, t.created_at, t.id);
  INSERT INTO memory.contradiction_cases (workspace, newer_id, older_id, entity, verdict, method, confidence, reason, detail)
  VALUES (NEW.workspace, CASE WHEN source_newer THEN s.id ELSE t.id END, CASE WHEN source_newer THEN t.id ELSE s.id END,
          s.entity, 'contradicts', 'manual', NEW.weight, NEW.metadata ->> 'reason',
          jsonb_build_object('edge', jsonb_build_object('source', NEW.source_id, 'target', NEW.target_id)))
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION memory.associations_open_case() IS
  'Trigger: a contradicts edge added by hand between two memories of the same entity opens a contradiction case (method manual) unless the pair has one.';
CREATE TRIGGER associations_open_case AFTER INSERT ON memory.associations
  FOR EACH ROW WHEN (NEW.relation = 'contradicts') EXECUTE FUNCTION memory.associations_open_case();

CALL memory.isolate_workspace_rows('contradiction_cases');
GRANT SELECT, INSERT, UPDATE ON memory.contradiction_cases TO memory_user;
REVOKE ALL ON FUNCTION memory.supersede_by(memory.memories, memory.memories, bigint, jsonb),
  memory.check_verdict(text, text, real), memory.record_contradiction(uuid, uuid, text, text, real, real, text, boolean, jsonb),
  memory.associations_open_case() FROM PUBLIC;
REVOKE ALL ON PROCEDURE memory.resolve_contradiction(bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.supersede_by(memory.memories, memory.memories, bigint, jsonb),
  memory.check_verdict(text, text, real), memory.record_contradiction(uuid, uuid, text, text, real, real, text, boolean, jsonb),
  memory.associations_open_case() TO memory_user;
GRANT EXECUTE ON PROCEDURE memory.resolve_contradiction(bigint, text, text) TO memory_user;
