"""What is true, as data: neutral types, the server profiles, the error family, base-URL and
environment rules, chat templates, masking and the logger. Imports nothing else of orbit_local."""
