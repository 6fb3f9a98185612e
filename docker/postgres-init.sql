-- Run once by the postgres image on an empty data directory (/docker-entrypoint-initdb.d).
-- POSTGRES_DB creates MLflow's tracking database; Optuna's study storage and MLflow's basic-auth
-- user store (mlflow-auth.ini) get databases of their own. kube-services.yaml carries a copy.
CREATE DATABASE optuna;
CREATE DATABASE mlflow_auth;
