CREATE TABLE IF NOT EXISTS public.bench_queries (id int PRIMARY KEY, v vector);
INSERT INTO public.bench_queries
SELECT q, (SELECT array_agg(random() - 0.5)::real[]::vector FROM generate_series(1, 64) d WHERE q > 0) FROM generate_series(1, 200) q
ON CONFLICT DO NOTHING;
GRANT SELECT ON public.bench_queries TO bench_ws;
