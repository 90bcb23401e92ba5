-- Sessions: working memory (key -> jsonb with TTL) and its promotion into long-term memory.

-- The session a call is about: the argument, else the connection's memory.session setting.
CREATE OR REPLACE FUNCTION memory.require_session(session uuid, for_write boolean DEFAULT true) RETURNS memory.sessions
LANGUAGE plpgsql STABLE AS $$
DECLARE
  sid uuid := coalesce(session, memory.scope_session());
  s memory.sessions;
BEGIN
  IF sid IS NULL THEN
    PERFORM memory.invalid('session', 'no session given and memory.session is not set',
      'Call SELECT session_start() first (it sets memory.session), or pass session => ''<id>''.');
  END IF;
  SELECT * INTO s FROM memory.sessions x WHERE x.id = sid;
  IF NOT FOUND THEN
    PERFORM memory.invalid('session', format('no session %s in this workspace', sid), 'Start one with SELECT session_start().');
  END IF;
  IF for_write AND s.status IN ('ended', 'expired') THEN
    RAISE EXCEPTION 'MemorySql: session % has %', sid, s.status USING ERRCODE = 'P0001', HINT = 'Start a new one with SELECT session_start().';
  END IF;
  IF for_write AND s.expires_at IS NOT NULL AND s.expires_at <= now() THEN
    RAISE EXCEPTION 'MemorySql: session % expired at %', sid, s.expires_at USING ERRCODE = 'P0001',
      HINT = 'Start a new one with SELECT session_start(); a longer ttl keeps sessions alive between uses.';
  END IF;
  RETURN s;
END
$$;
COMMENT ON FUNCTION memory.require_session(uuid, boolean) IS
  'The session a call is about (argument, else the memory.session setting); 22023 when none, P0001 when it ended or expired and for_write.';

CREATE OR REPLACE FUNCTION memory.session_start(entity text DEFAULT NULL, process text DEFAULT NULL, ttl interval DEFAULT NULL,
                                                metadata jsonb DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  sid uuid;
  v_entity text := coalesce(nullif(btrim(entity), ''), memory.scope_setting('entity'));
BEGIN
  IF ttl IS NOT NULL AND ttl <= interval '0' THEN
    PERFORM memory.invalid('ttl', format('%s is not positive', ttl), 'Pass e.g. ttl => interval ''30 minutes'', or NULL for no expiry.');
  END IF;
  INSERT INTO memory.sessions (workspace, entity, process, ttl, expires_at, metadata)
  VALUES (memory.require_workspace(), v_entity, coalesce(nullif(btrim(process), ''), memory.scope_setting('process')),
          ttl, now() + ttl, coalesce(memory.check_metadata(metadata), '{}'))
  RETURNING id INTO sid;
  PERFORM set_config('memory.session', sid::text, false);
  PERFORM memory.audit('session_start', NULL, v_entity, NULL, NULL, jsonb_build_object('session', sid, 'ttl', ttl));
  RETURN sid;
END
$$;
COMMENT ON FUNCTION memory.session_start(text, text, interval, jsonb) IS
  'Starts a session (working memory) for an entity and process, with an optional sliding TTL, makes it this connection''s memory.session and returns its id.';

CREATE OR REPLACE FUNCTION memory.session_touch(s memory.sessions) RETURNS void
LANGUAGE sql VOLATILE AS $$
  UPDATE memory.sessions x SET last_seen_at = now(), expires_at = CASE WHEN x.ttl IS NULL THEN x.expires_at ELSE now() + x.ttl END
   WHERE x.id = s.id
$$;
COMMENT ON FUNCTION memory.session_touch(memory.sessions) IS 'Marks a session as used now and slides its expiry by its ttl.';

CREATE OR REPLACE FUNCTION memory.session_set(key text, value jsonb, ttl interval DEFAULT NULL, session uuid DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
  s memory.sessions := memory.require_session(session);
BEGIN
  IF key IS NULL OR length(btrim(key)) = 0 OR length(key) > 200 THEN
    PERFORM memory.invalid('key', 'must be a non-empty text of at most 200 characters', 'Example: session_set(''seat'', ''"aisle"'')');
  END IF;
  IF ttl IS NOT NULL AND ttl <= interval '0' THEN
    PERFORM memory.invalid('ttl', format('%s is not positive', ttl), 'Pass e.g. ttl => interval ''10 minutes'', or NULL to keep the item for the whole session.');
  END IF;
  IF value IS NULL THEN
    DELETE FROM memory.session_items i WHERE i.session_id = s.id AND i.key = session_set.key;
  ELSE
    INSERT INTO memory.session_items AS i (session_id, key, workspace, value, expires_at)
    VALUES (s.id, session_set.key, s.workspace, value, now() + ttl)
    ON CONFLICT (session_id, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, updated_at = clock_timestamp();
  END IF;
  PERFORM memory.session_touch(s);
  PERFORM memory.audit('session_set', NULL, s.entity, NULL, NULL,
                       jsonb_build_object('session', s.id, 'key', session_set.key, 'removed', value IS NULL, 'ttl', ttl));
  RETURN value;
END
$$;
COMMENT ON FUNCTION memory.session_set(text, jsonb, interval, uuid) IS
  'Sets a working-memory item of the session (default: memory.session) to a jsonb value, with an optional TTL; a NULL value removes it. Returns the value.';

CREATE OR REPLACE FUNCTION memory.session_get(key text, session uuid DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  s memory.sessions := memory.require_session(session, false);
BEGIN
  RETURN (SELECT i.value FROM memory.session_items i
           WHERE i.session_id = s.id AND i.key = session_get.key AND (i.expires_at IS NULL OR i.expires_at > now())
             AND (s.expires_at IS NULL OR s.expires_at > now()) AND s.status NOT IN ('ended', 'expired'));
END
$$;
COMMENT ON FUNCTION memory.session_get(text, uuid) IS
  'The value of a working-memory item of the session (default: memory.session); NULL when absent, expired, or the session expired.';

CREATE OR REPLACE PROCEDURE memory.session_commit(session uuid DEFAULT NULL, type text DEFAULT 'episodic', kind text DEFAULT 'note',
                                                  importance real DEFAULT NULL, tags text[] DEFAULT NULL,
                                                  INOUT promoted integer DEFAULT NULL, extraction boolean DEFAULT true)
LANGUAGE plpgsql AS $$
DECLARE
  s memory.sessions := memory.require_session(session);
  item record;
  ids uuid[] := '{}';
  mid uuid;
  messages jsonb := '[]';
  resource uuid;
BEGIN
  PERFORM memory.check_type(coalesce(type, 'episodic'));
  PERFORM memory.check_kind(coalesce(kind, 'note'));
  PERFORM memory.check_importance(importance);
  PERFORM memory.check_tags(tags);
  promoted := 0;
  FOR item IN SELECT i.key, i.value, i.updated_at FROM memory.session_items i
               WHERE i.session_id = s.id AND (i.expires_at IS NULL OR i.expires_at > now())
                 AND (i.committed_at IS NULL OR i.updated_at > i.committed_at)
               ORDER BY i.created_at, i.key FOR UPDATE
  LOOP
    IF coalesce(extraction, true) THEN
      -- Through extraction, like an ingested conversation: one message per item.
      messages := messages || jsonb_build_array(jsonb_build_object(
        'role', 'note', 'key', item.key, 'timestamp', item.updated_at,
        'content', CASE WHEN jsonb_typeof(item.value) = 'string' THEN item.value #>> '{}' ELSE item.key || ': ' || item.value::text END));
    ELSE
      SELECT x.memory_id INTO mid FROM memory.store(
        CASE WHEN jsonb_typeof(item.value) = 'string' THEN item.value #>> '{}' ELSE item.key || ': ' || item.value::text END,
        coalesce(type, 'episodic'), coalesce(kind, 'note'), importance, tags,
        jsonb_build_object('session_key', item.key), coalesce(s.entity, ''), s.id, NULL, NULL, coalesce(s.process, ''),
        NULL, NULL, NULL, NULL, NULL, NULL, false) x;
      ids := ids || mid;
    END IF;
    UPDATE memory.session_items i SET committed_at = clock_timestamp() WHERE i.session_id = s.id AND i.key = item.key;
    promoted := promoted + 1;
  END LOOP;
  IF jsonb_array_length(messages) > 0 THEN
    CALL memory.ingest(messages, coalesce(s.entity, ''), coalesce(s.process, ''), s.id, 'session',
                       jsonb_build_object('session_commit', jsonb_strip_nulls(jsonb_build_object(
                         'type', coalesce(type, 'episodic'), 'kind', coalesce(kind, 'note'), 'importance', importance, 'tags', to_jsonb(tags)))),
                       resource);
  END IF;
  UPDATE memory.sessions x SET status = 'committed' WHERE x.id = s.id AND x.status = 'open';
  PERFORM memory.session_touch(s);
  PERFORM memory.audit('session_commit', NULL, s.entity, NULL, NULL,
                       jsonb_strip_nulls(jsonb_build_object('session', s.id, 'promoted', promoted, 'memories', CASE WHEN cardinality(ids) > 0 THEN to_jsonb(ids) END,
                                                            'resource', resource)));
END
$$;
COMMENT ON PROCEDURE memory.session_commit(uuid, text, text, real, text[], integer, boolean) IS
  'Promotes the session''s working memory into long-term memory: every item not expired and changed since its last commit becomes one message of a resource (kind session) queued for the extraction worker, which writes the memories (type, kind, importance and tags as given; with an LLM, the facts it finds). With extraction => false each item becomes a memory at once (a string value as is, anything else as "key: value") through the same path as remember. Returns how many items were promoted.';

CREATE OR REPLACE PROCEDURE memory.session_end(session uuid DEFAULT NULL, commit boolean DEFAULT true, INOUT promoted integer DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
  s memory.sessions := memory.require_session(session, false);
BEGIN
  promoted := 0;
  IF s.status IN ('ended', 'expired') THEN
    RETURN;
  END IF;
  IF coalesce(commit, true) AND (s.expires_at IS NULL OR s.expires_at > now()) THEN
    CALL memory.session_commit(s.id, promoted => promoted);
  END IF;
  DELETE FROM memory.session_items i WHERE i.session_id = s.id;
  UPDATE memory.sessions x SET status = 'ended', ended_at = now(), last_seen_at = now() WHERE x.id = s.id;
  IF memory.scope_setting('session') = s.id::text THEN
    PERFORM set_config('memory.session', '', false);
  END IF;
  PERFORM memory.audit('session_end', NULL, s.entity, NULL, NULL, jsonb_build_object('session', s.id, 'promoted', promoted));
END
$$;
COMMENT ON PROCEDURE memory.session_end(uuid, boolean, integer) IS
  'Ends a session: commits its working memory first (unless commit => false), drops the working items, marks it ended and clears memory.session. Returns how many items were promoted.';

CREATE OR REPLACE FUNCTION memory.expire_sessions() RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  n integer;
BEGIN
  WITH gone AS (
    UPDATE memory.sessions s SET status = 'expired', ended_at = now()
     WHERE s.status IN ('open', 'committed') AND s.expires_at <= now() RETURNING s.id)
  DELETE FROM memory.session_items i USING gone WHERE i.session_id = gone.id;
  GET DIAGNOSTICS n = ROW_COUNT;
  DELETE FROM memory.session_items i WHERE i.expires_at <= now();
  RETURN n;
END
$$;
COMMENT ON FUNCTION memory.expire_sessions() IS
  'Housekeeping: marks sessions past their expiry as expired and deletes expired working-memory items. Returns the number of items dropped with expired sessions.';
