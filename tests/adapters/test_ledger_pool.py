"""The service's pool: autocommit connections that the ledger functions compose."""

from __future__ import annotations

import pytest

from orchestrator.ledger import campaigns, claims
from orchestrator.ledger.pool import open_pool
from tests.support import ledger_seed
from tests.support.ledger_seed import NOON, add_contact

pytestmark = pytest.mark.timeout(30)
# One shared, emptied-per-test database instead of one database per test (faster).
database_url = ledger_seed.database_url
ledger_session_database = ledger_seed.ledger_session_database


async def test_pool_connections_are_autocommit_and_compose(database_url: str) -> None:
    pool = await open_pool(database_url, min_size=1, max_size=2)
    try:
        async with pool.connection() as conn:
            assert conn.autocommit
            c = await campaigns.start_campaign(conn, (await campaigns.create_campaign(conn, "Pool")).id)
            await add_contact(conn, c.id)
            # Several ledger calls made atomic by one outer transaction: a rollback undoes both.
            with pytest.raises(RuntimeError):
                async with conn.transaction():
                    await campaigns.pause_campaign(conn, c.id)
                    await campaigns.add_wrapup_code(conn, c.id, "Later", "retry")
                    raise RuntimeError("abort")
            assert (await campaigns.get_campaign(conn, c.id)).status == "running"
            assert [w.label for w in await campaigns.wrapup_codes(conn, c.id)][-1] == "Voicemail"
        async with pool.connection() as conn:
            res = await claims.claim_targets(conn, c.id, owner="p", limit=1, now=NOON)
            assert len(res.claimed) == 1
    finally:
        await pool.close()
