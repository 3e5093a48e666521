"""The composition root: the engine assembled from every package, its CLI, `cti run` and the demo.

It sits above the five packages (cti <- ivr, acd <- crm_core <- agent_console <- callcenter) and
nothing imports it."""
