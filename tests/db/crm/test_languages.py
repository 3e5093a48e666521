"""Scripts and articles match a caller's language by its primary subtag: zh-CN, ZH, zh_CN and zh-Hans-CN
all find the Chinese material (stored as zh-CN by the seed), and "zh" never finds "zha"."""

from __future__ import annotations

from crm_core import catalog
from crm_core.db import Database
from crm_core.schemas import ArticleIn, ScriptIn


async def test_scripts_and_articles_match_by_primary_language(db: Database) -> None:
    async with db.session() as s:
        for name, lang in (("bill-zh", "zh-CN"), ("bill-en", "en")):
            await catalog.save_script(session=s, data=ScriptIn(name=name, queue="billing", language=lang,
                                                               title=name, body="hello"))
        for title, lang in (("账单 zh", "zh-CN"), ("bill en", "en-US"), ("bill zha", "zha"), ("账单 tw", "zh_TW")):
            await catalog.save_article(session=s, data=ArticleIn(title=title, body="bill", language=lang))
    async with db.session() as s:
        for tag in ("zh-CN", "ZH", "zh_CN", "zh-Hans-CN", "zh"):
            assert (await catalog.suggest_script(session=s, queue="billing", language=tag)).name == "bill-zh", tag
            found = await catalog.search_articles(session=s, q="bill", language=tag)
            assert sorted(a.title for a in found) == ["账单 tw", "账单 zh"], tag
        assert (await catalog.suggest_script(session=s, queue="billing", language="EN-gb")).name == "bill-en"
        assert [a.title for a in await catalog.search_articles(session=s, q="bill", language="en")] == ["bill en"]
        assert await catalog.search_articles(session=s, q="bill", language="%") == []
