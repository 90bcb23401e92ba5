-- 0001: the memory schema's foundation. Tables, indexes and types only; functions and views live in sql/.
CREATE EXTENSION IF NOT EXISTS vector;
CREATE SCHEMA IF NOT EXISTS memory;
