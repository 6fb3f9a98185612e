-- Run once by the postgres image on an empty data directory (/docker-entrypoint-initdb.d).
-- POSTGRES_DB creates MLflow's tracking database; Optuna's study storage and MLflow's basic-auth
-- user store (compose.auth.yaml) get databases of their own.
CREATE DATABASE optuna;
CREATE DATABASE mlflow_auth;
