-- 0005: builtin-v2 (the default builtin model since 0004's release) gets the same contradiction threshold as
-- builtin-v1. Hashed lexical features (and v2's WordNet concepts) give two statements of one attribute with
-- different values a cosine of about 0.4–0.75 ("favourite colour is blue" / "… is green": v1 0.73, v2 0.72;
-- "I live in Berlin" / "I live in Paris now": v1 0.41, v2 0.55), under the 0.80 meant for neural models, while
-- unrelated facts stay near 0. Kept where an administrator already set it.
UPDATE memory.policies
   SET settings = '{"contradiction_threshold:builtin-v2": 0.5}'::jsonb || settings,
       updated_at = now()
 WHERE workspace = '*';
