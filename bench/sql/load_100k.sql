-- 100,000 memories of 12 words each from a 3,000-word vocabulary (skewed, so some terms are common),
-- 64-dimension random vectors, 1 % tagged 'rare'. Run as the admin. Bulk path: rows first, then the
-- vectors, then register_model builds the HNSW index over them in one go.
SELECT memory.create_workspace('bench_ws', 'bench');
SET ROLE bench_ws;
INSERT INTO memory.memories (content, tags)
SELECT t.txt || ' #' || g, CASE WHEN g % 100 = 0 THEN '{rare}'::text[] ELSE '{}' END
  FROM generate_series(1, 100000) g,
       LATERAL (SELECT string_agg('w' || floor(power(random(), 2) * 3000)::int, ' ') AS txt FROM generate_series(1, 12) x WHERE g > 0) t;
RESET ROLE;
INSERT INTO memory.models (name, dimension, is_default) VALUES ('bench-64', 64, true) ON CONFLICT DO NOTHING;
INSERT INTO memory.embeddings (memory_id, model, workspace, embedding)
SELECT m.id, 'bench-64', m.workspace, (SELECT array_agg(random() - 0.5)::real[]::vector FROM generate_series(1, 64) d WHERE m.id IS NOT NULL)
  FROM memory.memories m WHERE m.workspace = 'bench_ws';
SELECT memory.register_model('bench-64', 64, true);
VACUUM ANALYZE;
