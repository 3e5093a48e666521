"""CRM core: customers, interactions (one per call, with segments), cases, catalogue, users.

Modules: ``db`` (the only engine: SQLite/aiosqlite or PostgreSQL/asyncpg, unit of work,
migrations), ``models``, ``schemas``, services per noun (``customers``, ``interactions``,
``cases``, ``catalog``, ``users``), ``fold`` (pure: journey events -> interaction),
``outbox`` + ``calllog`` (the bus consumer writing interactions), ``directory`` (IVR port),
``screenpop`` and ``console`` (console ports), ``http`` (REST router), ``cli`` (``cti db``),
``seed`` (demo company), ``errors`` (the error tree).
"""
