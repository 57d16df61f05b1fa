"""Services app assembly: settings, database, redis, app factory, CLI, worker, dev stack."""
