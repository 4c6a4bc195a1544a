"""The only package that speaks SQL: models, sessions, queries, audit and backup."""
