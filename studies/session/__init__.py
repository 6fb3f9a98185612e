"""A study's session: launching and resuming it (launch), the one-driver lease, preflight of every
store before anything starts, starting or joining Ray (ray_session), reaping what a killed driver
left (orphans), the study record, the progress line and the links a user browses.

Not `studies/run/`: `studies.run` is the notebook API's function, which a subpackage of that
name would shadow once imported."""
