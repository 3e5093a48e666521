"""The catalogue agents work with: disposition codes, call scripts (per queue / intent) and
knowledge articles (searchable)."""

from __future__ import annotations

import re

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.customers import like_pattern
from crm_core.errors import Conflict, NotFound
from crm_core.models import Article, Disposition, Script
from crm_core.schemas import ArticleIn, DispositionIn, ScriptIn
from ivr.language import primary, same_language

_TERMS = re.compile(r"[\w\u4e00-\u9fff]+", re.UNICODE)


# -- dispositions ---------------------------------------------------------------------------

async def list_dispositions(*, session: AsyncSession, active_only: bool = True) -> list[Disposition]:
    stmt = select(Disposition).order_by(Disposition.category, Disposition.code)
    if active_only:
        stmt = stmt.where(Disposition.active.is_(True))
    return list((await session.scalars(stmt)).all())


async def get_disposition(*, session: AsyncSession, disposition_id: int) -> Disposition:
    found = await session.get(Disposition, disposition_id)
    if found is None:
        raise NotFound("disposition", disposition_id)
    return found


async def create_disposition(*, session: AsyncSession, data: DispositionIn) -> Disposition:
    if await session.scalar(select(Disposition.id).where(Disposition.code == data.code)):
        raise Conflict("code", f"disposition {data.code!r} exists")
    d = Disposition(**data.model_dump())
    session.add(d)
    await session.flush()
    return d


async def update_disposition(*, session: AsyncSession, disposition_id: int, data: DispositionIn) -> Disposition:
    d = await get_disposition(session=session, disposition_id=disposition_id)
    other = await session.scalar(select(Disposition.id).where(Disposition.code == data.code))
    if other is not None and other != d.id:
        raise Conflict("code", f"disposition {data.code!r} exists")
    for k, v in data.model_dump().items():
        setattr(d, k, v)
    await session.flush()
    return d


async def delete_disposition(*, session: AsyncSession, disposition_id: int) -> None:
    """Codes stay on past interactions, so a deleted code is only deactivated."""
    (await get_disposition(session=session, disposition_id=disposition_id)).active = False
    await session.flush()


# -- scripts --------------------------------------------------------------------------------

async def list_scripts(*, session: AsyncSession, queue: str | None = None) -> list[Script]:
    stmt = select(Script).order_by(Script.queue, Script.name)
    if queue is not None:
        stmt = stmt.where(Script.queue == queue)
    return list((await session.scalars(stmt)).all())


async def get_script(*, session: AsyncSession, script_id: int) -> Script:
    found = await session.get(Script, script_id)
    if found is None:
        raise NotFound("script", script_id)
    return found


async def save_script(*, session: AsyncSession, data: ScriptIn, script_id: int | None = None) -> Script:
    other = await session.scalar(select(Script.id).where(Script.name == data.name))
    if other is not None and other != script_id:
        raise Conflict("name", f"script {data.name!r} exists")
    script = Script() if script_id is None else await get_script(session=session, script_id=script_id)
    for k, v in data.model_dump().items():
        setattr(script, k, v)
    session.add(script)
    await session.flush()
    return script


async def delete_script(*, session: AsyncSession, script_id: int) -> None:
    await session.delete(await get_script(session=session, script_id=script_id))
    await session.flush()


async def suggest_script(*, session: AsyncSession, queue: str | None, intent: str | None = None,
                         language: str | None = None) -> Script | None:
    """Best active script: queue + intent, then queue, then intent, then a general one; language first."""
    rows = list((await session.scalars(select(Script).where(
        Script.active.is_(True), or_(Script.queue == queue, Script.queue.is_(None), Script.intent == intent)))).all())

    def score(s: Script) -> tuple[int, int, int]:
        return ((s.queue == queue and queue is not None) * 2 + (s.intent == intent and intent is not None) * 3,
                int(same_language(s.language, language)), -s.id)

    rows = [s for s in rows if (s.queue in (None, queue)) and (s.intent in (None, intent))]
    return max(rows, key=score, default=None)


# -- knowledge articles ---------------------------------------------------------------------

async def get_article(*, session: AsyncSession, article_id: int) -> Article:
    found = await session.get(Article, article_id)
    if found is None:
        raise NotFound("article", article_id)
    return found


async def save_article(*, session: AsyncSession, data: ArticleIn, article_id: int | None = None) -> Article:
    article = Article() if article_id is None else await get_article(session=session, article_id=article_id)
    for k, v in data.model_dump().items():
        setattr(article, k, v)
    session.add(article)
    await session.flush()
    return article


async def delete_article(*, session: AsyncSession, article_id: int) -> None:
    await session.delete(await get_article(session=session, article_id=article_id))
    await session.flush()


def search_terms(text: str) -> list[str]:
    """Words of a query; Chinese runs (no spaces) are split into two-character pieces."""
    terms: list[str] = []
    for word in _TERMS.findall(text.lower()):
        if re.fullmatch(r"[\u4e00-\u9fff]+", word) and len(word) > 2:
            terms.extend(word[i:i + 2] for i in range(len(word) - 1))
        elif len(word) >= 2 or re.fullmatch(r"[\u4e00-\u9fff]", word):
            terms.append(word)
    return list(dict.fromkeys(terms))[:12]


async def search_articles(*, session: AsyncSession, q: str, language: str | None = None,
                          limit: int = 10) -> list[Article]:
    """Articles matching any term of ``q`` in title, body or tags, best first (title hits weigh more)."""
    terms = search_terms(q)
    if not terms:
        return []
    conds = []
    for t in terms:
        pat = like_pattern(t)
        conds += [func.lower(Article.title).like(pat, escape="\\"), func.lower(Article.body).like(pat, escape="\\"),
                  func.lower(cast(Article.tags, String)).like(pat, escape="\\")]
    stmt = select(Article).where(or_(*conds)).limit(500)
    if language:
        # Same primary subtag: "zh" finds zh, zh-CN and zh_TW articles, never "zha".
        lang, stored = primary(language), func.lower(Article.language)
        esc = like_pattern(lang)[1:-1]  # the wildcards of the query escaped
        stmt = stmt.where(or_(stored == lang, stored.like(f"{esc}-%", escape="\\"),
                              stored.like(f"{esc}\\_%", escape="\\")))
    found = list((await session.scalars(stmt)).all())

    def score(a: Article) -> tuple[int, int]:
        title, body, tags = a.title.lower(), a.body.lower(), " ".join(a.tags).lower()
        return (sum(3 * (t in title) + (t in body) + 2 * (t in tags) for t in terms), -a.id)

    return sorted(found, key=score, reverse=True)[:limit]
