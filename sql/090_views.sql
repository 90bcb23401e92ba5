-- Views. All are security_invoker, so row-level security of the caller applies to what they read.

-- Effective importance with the workspace's policy joined once per workspace (not looked up per row).
CREATE VIEW memory.memories_current WITH (security_invoker = true) AS
SELECT m.id, m.workspace, m.entity, m.process, m.session_id, m.layer, m.type, m.kind, m.content, m.tags, m.metadata,
       m.importance,
       memory.effective_importance(m.importance, m.pinned, m.access_count, greatest(m.created_at, m.last_accessed_at),
                                   coalesce(p.decay_half_life, d.decay_half_life), coalesce(p.decay_floor, d.decay_floor),
                                   memory.policy_number(CASE WHEN p.settings ? 'decay.access_boost' THEN p.settings ELSE d.settings END,
                                                        'decay.access_boost', 0.2)::real,
                                   now()) AS effective_importance,
       m.pinned, m.valid_from, m.valid_to,
       m.created_at, m.updated_at, m.last_accessed_at, m.access_count, m.expires_at, m.source_id
  FROM memory.memories m
  LEFT JOIN memory.policies p ON p.workspace = m.workspace
  LEFT JOIN memory.policies d ON d.workspace = '*'
 WHERE m.status = 'active' AND (m.expires_at IS NULL OR m.expires_at > now());
COMMENT ON VIEW memory.memories_current IS 'Active, unexpired memories with their effective importance (decayed per the workspace policy; see docs/lifecycle.md).';

-- Open contradictions: cases nobody (no check, no person) has settled, between two memories that are both
-- still active. The check worker and resolve_contradiction (sql/150_contradictions.sql) write the cases.
CREATE VIEW memory.contradictions WITH (security_invoker = true) AS
SELECT c.id, c.newer_id, c.older_id, n.content AS newer_content, o.content AS older_content, c.entity,
       c.verdict, c.method, c.confidence, c.similarity, c.reason, c.detail, c.created_at AS detected_at, c.workspace
  FROM memory.contradiction_cases c
  JOIN memory.memories n ON n.id = c.newer_id AND n.status = 'active'
  JOIN memory.memories o ON o.id = c.older_id AND o.status = 'active'
 WHERE c.state = 'open';
COMMENT ON VIEW memory.contradictions IS 'Open contradictions waiting for a decision (CALL resolve_contradiction(id, keep => ''newer''|''older''|''both'')): the two memories, how the conflict was found (verdict, method, confidence, reason) and when.';

CREATE VIEW memory.stats WITH (security_invoker = true) AS
SELECT 'memories'::text AS section, 'status:' || m.status AS key, count(*) AS value FROM memory.memories m GROUP BY m.status
UNION ALL
SELECT 'memories', 'type:' || m.type, count(*) FROM memory.memories m WHERE m.status = 'active' GROUP BY m.type
UNION ALL
SELECT 'memories', 'layer:' || m.layer, count(*) FROM memory.memories m WHERE m.status = 'active' GROUP BY m.layer
UNION ALL
SELECT 'embeddings', x.name, (SELECT count(*) FROM memory.embeddings e WHERE e.model = x.name) FROM memory.models x
UNION ALL
SELECT 'embedding_queue', x.name || ':' || st.state,
       (SELECT count(*) FROM memory.embedding_queue q WHERE q.model = x.name AND q.state = st.state)
  FROM memory.models x CROSS JOIN (VALUES ('queued'), ('failed')) st(state)
UNION ALL
SELECT 'extraction_queue', st.state, (SELECT count(*) FROM memory.extraction_queue q WHERE q.state = st.state)
  FROM (VALUES ('queued'), ('failed')) st(state)
UNION ALL
SELECT 'check_queue', st.state, (SELECT count(*) FROM memory.check_queue q WHERE q.state = st.state)
  FROM (VALUES ('queued'), ('failed')) st(state)
UNION ALL
SELECT 'query_embeddings', st.state,
       (SELECT count(*) FROM memory.query_embeddings q
         WHERE CASE WHEN q.embedding IS NOT NULL THEN 'ready' WHEN q.last_error IS NULL THEN 'queued' ELSE 'failed' END = st.state)
  FROM (VALUES ('queued'), ('failed'), ('ready')) st(state)
UNION ALL
SELECT 'access', 'pending_hits', count(*) FROM memory.access_log
UNION ALL
SELECT 'resources', r.kind, count(*) FROM memory.resources r GROUP BY r.kind
UNION ALL
SELECT 'sessions', s.status, count(*) FROM memory.sessions s GROUP BY s.status
UNION ALL
SELECT 'associations', a.relation, count(*) FROM memory.associations a GROUP BY a.relation
UNION ALL
SELECT 'contradictions', 'open', count(*) FROM memory.contradictions
UNION ALL
SELECT 'contradictions', 'resolved:' || c.resolution, count(*) FROM memory.contradiction_cases c WHERE c.state = 'resolved' GROUP BY c.resolution
UNION ALL
SELECT 'llm', x.key, x.value
  FROM (SELECT count(*) AS calls, count(*) FILTER (WHERE NOT u.ok) AS failed,
               coalesce(sum(u.prompt_tokens::bigint + u.completion_tokens), 0)::bigint AS tokens
          FROM memory.llm_usage u WHERE u.at >= date_trunc('day', now(), 'UTC')) t,
       LATERAL (VALUES ('calls_today', t.calls), ('failed_calls_today', t.failed), ('tokens_today', t.tokens)) x(key, value)
UNION ALL
SELECT 'reflection', 'pending_groups', (SELECT count(*) FROM (SELECT DISTINCT q.workspace, q.entity, q.topic FROM memory.reflection_queue q) d)
UNION ALL
SELECT 'reflection', st.state, (SELECT count(*) FROM memory.reflection_groups g WHERE g.state = st.state)
  FROM (VALUES ('ok'), ('retry'), ('failed')) st(state)
UNION ALL
SELECT 'workers', w.key, w.value FROM memory.worker_summary() w;
COMMENT ON VIEW memory.stats IS 'Counts of the caller''s workspace (the admin sees all): memories by status, type and layer; embeddings per model; embedding, extraction and check queue depths (queued, failed); query embeddings; recall access hits not yet folded into access_count (access:pending_hits); resources; sessions; edges; open and resolved contradictions; LLM calls and tokens today (UTC); reflection groups waiting, summarised, retrying, failed; live workers of every MemorySql process.';

CREATE VIEW memory.embedding_status WITH (security_invoker = true) AS
SELECT 'memory'::text AS source, q.memory_id, q.model, q.workspace, q.state, q.attempts, q.last_error, q.run_after,
       q.enqueued_at, q.updated_at, left(m.content, 80) AS preview
  FROM memory.embedding_queue q JOIN memory.memories m ON m.id = q.memory_id
UNION ALL
SELECT 'query', NULL, q.model, q.workspace, CASE WHEN q.last_error IS NULL THEN 'queued' ELSE 'failed' END, q.attempts,
       q.last_error, NULL, q.created_at, q.last_used_at, left(q.query, 80)
  FROM memory.query_embeddings q WHERE q.embedding IS NULL;
COMMENT ON VIEW memory.embedding_status IS 'What still waits for an embedding: memories in the embed queue (queued or failed, with attempts and last_error) and recall query texts without a vector yet.';

CREATE VIEW memory.extraction_status WITH (security_invoker = true) AS
SELECT q.resource_id, q.workspace, r.kind, r.entity, q.state, q.attempts, q.last_error, q.run_after, q.enqueued_at, q.updated_at
  FROM memory.extraction_queue q JOIN memory.resources r ON r.id = q.resource_id;
COMMENT ON VIEW memory.extraction_status IS 'Ingested resources waiting for extraction (queued or failed, with attempts and last_error).';
