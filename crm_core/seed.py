"""Demo company for ``cti db seed-demo``: customers across tiers, users, dispositions, scripts,
knowledge articles, cases and past interactions (written through the real call logger).

Idempotent: customers are matched by their first phone number, users by username, catalogue
rows by code / name / title, cases by customer + subject; past interactions are seeded once.

Demo logins (development only): admin / admin-demo-1 (administrator), sup1 / sup1-demo-1
(supervisor), mgr1 / mgr1-demo-1 (manager: sees what a supervisor sees, does not intervene), and
one agent per entry of the ``agents:`` roster in config/queues.yaml (the one list of agents: id,
login, name, skills): agent1..agent8 / agent1-demo..agent8-demo, extensions and agent ids
1001..1008. IVR accounts: 100001 PIN 1234 (张伟, key account), 100002..100010 PIN "1" + the
last three digits (100002 -> 1002); customers 11..50 have account numbers 100011..100050 without
a PIN.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select

from acd.config import demo_agents
from crm_core import cases as case_service
from crm_core import users as user_service
from crm_core.calllog import CallLogger
from crm_core.customers import create_customer
from crm_core.db import Database
from crm_core.models import Article, Case, Customer, CustomerPhone, Disposition, Interaction, Script, User
from crm_core.phones import to_e164
from crm_core.schemas import CaseIn, CustomerIn, PhoneIn
from crm_core.users import create_user
from cti.errors import ConfigError
from cti.events import Event
from cti.journey import (
    AgentRinging,
    CallArrived,
    CallbackRequested,
    CallConnected,
    CallEnded,
    HoldEnded,
    HoldStarted,
    IvrFinished,
    QueueEntered,
    QueueLeft,
    VoicemailLeft,
    WrapUpDone,
)
from cti.settings import DEFAULT_CONFIG_DIR, load_yaml

Progress = Callable[[str], None]
DEMO_CUSTOMERS = 200
DEMO_INTERACTIONS = 600
DEFAULT_QUEUES = {"general": ["general"], "support": ["support"], "billing": ["billing"], "sales": ["sales"]}
# The demo's staff: login, password, role, name, phone extension (README's quick tour, the startup banner).
DEMO_STAFF = (("admin", "admin-demo-1", "admin", "Administrator 管理员", None),
              ("sup1", "sup1-demo-1", "supervisor", "Supervisor 主管 周敏", "1009"),
              ("mgr1", "mgr1-demo-1", "manager", "Manager 经理 吴刚", "1010"))
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
         "秀兰", "霞", "平", "刚", "桂英", "建华", "文", "华", "红", "建国", "子涵", "浩然", "雨桐", "欣怡"]
ENGLISH = ["Olivia Smith", "Liam Johnson", "Emma Brown", "Noah Davis", "Ava Wilson", "Lucas Martin",
           "Mia Thompson", "Ethan Clark", "Sophia Lewis", "Mason Walker"]
COMPANIES = ["华为技术有限公司", "上海浦东发展银行", "深圳市腾达科技", "北京京东世纪贸易", "杭州云栖网络",
             "成都天府软件",
             "Acme Trading Ltd", "Pacific Logistics", "广州白云物流", "苏州工业园区制造"]
DISPOSITIONS = [
    ("resolved", "Resolved", "已解决", "service", True),
    ("info_given", "Information given", "已告知信息", "service", True),
    ("billing_adjusted", "Bill adjusted", "账单已调整", "billing", True),
    ("payment_arranged", "Payment arranged", "已安排付款", "billing", True),
    ("sale_made", "Sale made", "已成交", "sales", True),
    ("quote_sent", "Quote sent", "已发送报价", "sales", False),
    ("case_opened", "Case opened", "已创建工单", "service", False),
    ("escalated", "Escalated", "已升级", "service", False),
    ("complaint_logged", "Complaint logged", "投诉已登记", "complaints", False),
    ("callback_scheduled", "Callback scheduled", "已预约回电", "service", False),
    ("wrong_number", "Wrong number", "打错电话", "other", False),
    ("silent_call", "Silent call", "无声来电", "other", False),
]


def demo_logins(config_dir: Path | None = None) -> list[str]:
    """``login / password (role)`` of every demo user, for printing."""
    staff = [f"{u} / {pw} ({'administrator' if role == 'admin' else role})" for u, pw, role, _, _ in DEMO_STAFF]
    agents = demo_agents(config_dir or DEFAULT_CONFIG_DIR)
    return staff + [f"{a.username} / {a.username}-demo (agent {a.agent_id})" for a in agents]


async def published_logins(db: Database, *, config_dir: Path | None = None) -> list[str]:
    """Active users who still log in with a password the project publishes (the demo's staff, and
    ``<username>-demo`` for the agents of the demo roster, shipped or in ``config_dir``): a demo
    database taken into production lets anyone in as its administrator."""
    published = {username: password for username, password, *_ in DEMO_STAFF}
    for directory in {config_dir or DEFAULT_CONFIG_DIR, DEFAULT_CONFIG_DIR}:
        published.update((a.username, f"{a.username}-demo") for a in demo_agents(directory))
    async with db.session() as s:
        rows = (await s.execute(select(User.username, User.password_hash)
                                .where(User.username.in_(published), User.active.is_(True)))).all()
    return sorted([name for name, stored in rows
                   if await user_service.verify_secret_async(stored, published[name])])


def _queues(config_dir: Path | None) -> dict[str, list[str]]:
    """Queue -> skills from config/queues.yaml when it exists (``queues:`` as a mapping or list)."""
    path = (config_dir or DEFAULT_CONFIG_DIR) / "queues.yaml"
    if not path.exists():
        return DEFAULT_QUEUES
    try:
        data = load_yaml(path) or {}
    except yaml.YAMLError as err:  # `cti run --demo` seeds before the engine reads the file
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    raw = data.get("queues", data) if isinstance(data, dict) else data
    items = raw.items() if isinstance(raw, dict) else ((q.get("name"), q) for q in raw or [] if isinstance(q, dict))
    out: dict[str, list[str]] = {}
    for name, spec in items:
        skills = (spec or {}).get("skills", {}) if isinstance(spec, dict) else {}
        out[str(name)] = list(skills) if isinstance(skills, dict | list) else []
    return out or DEFAULT_QUEUES


def _customers(rng: random.Random) -> list[CustomerIn]:
    tiers = ["key_account"] * 10 + ["gold"] * 30 + ["silver"] * 60 + ["standard"] * 100
    lifecycles = ["potential", "new", "mature", "loyal", "dormant"]
    out: list[CustomerIn] = []
    used: set[str] = set()
    for n in range(1, DEMO_CUSTOMERS + 1):
        english = n % 17 == 3
        name = "张伟" if n == 1 else (ENGLISH[n % len(ENGLISH)] + f" {n}" if english else
                                       rng.choice(SURNAMES) + rng.choice(GIVEN))
        while True:
            mobile = "13800138000" if n == 1 else f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
            if mobile not in used:
                used.add(mobile)
                break
        phones = [PhoneIn(number=mobile, label="mobile")]
        if n % 5 == 0:
            phones.append(PhoneIn(number=f"0{rng.choice(['10', '21', '755', '571'])} {rng.randrange(10**7, 10**8)}",
                                  label="office"))
        pin = None
        if n <= 10:
            pin = "1234" if n == 1 else f"1{n:03d}"
        out.append(CustomerIn(
            name=name, company=rng.choice(COMPANIES) if n % 3 == 0 or n <= 10 else None, phones=phones,
            emails=[f"customer{n}@example.com"], account_number=f"{100000 + n}" if n <= 50 else None,
            tier=tiers[(n - 1) % len(tiers)] if n > 1 else "key_account",
            lifecycle=lifecycles[rng.randrange(5)], language="en" if english else "zh-CN",
            tags=rng.sample(["vip", "wholesale", "retail", "overdue", "new-product", "referral"], k=rng.randrange(3)),
            custom_fields={"region": rng.choice(["华北", "华东", "华南", "西南"]), "since": 2010 + n % 15},
            notes="Prefers calls after 14:00 / 下午两点后联系" if n % 11 == 0 else "", pin=pin))
    return out


SCRIPTS = [
    ("general-zh", "general", None, "zh-CN", "通用开场白",
     "您好，{customer_name}，感谢您致电客户服务中心，我是您的客服代表，请问有什么可以帮您？"),
    ("general-en", "general", None, "en", "General greeting",
     "Hello {customer_name}, thank you for calling. How may I help you today?"),
    ("support-zh", "support", None, "zh-CN", "技术支持",
     "您好{customer_name}，请描述您遇到的问题：什么时候开始的？有没有错误提示？我们一步一步排查。"),
    ("support-en", "support", None, "en", "Technical support",
     "Hello {customer_name}. Could you describe the problem, when it started and any error shown?"),
    ("billing-zh", "billing", None, "zh-CN", "账单咨询",
     "您好{customer_name}，为了核实身份，请提供账号后四位。请问是哪一期账单有疑问？"),
    ("billing-en", "billing", None, "en", "Billing questions",
     "Hello {customer_name}. To verify your identity, please confirm your account number. Which bill is it?"),
    ("sales-zh", "sales", None, "zh-CN", "销售咨询",
     "您好{customer_name}，感谢您对我们产品的关注！请问您想了解哪款产品？我为您介绍当前优惠。"),
    ("sales-en", "sales", None, "en", "Sales enquiry",
     "Hello {customer_name}, thanks for your interest! Which product would you like to know about?"),
    ("complaint-zh", None, "complaint", "zh-CN", "投诉处理",
     "非常抱歉给您带来不便。请您详细说明情况，我会记录并在24小时内给您答复。"),
]
ARTICLES = [
    ("如何查询账单", "登录网上营业厅，进入“我的账单”，可查看近12个月账单明细。"
     "账单疑问请致电账单专线。", "zh-CN", "billing",
     ["账单", "bill"]),
    ("How to read your bill", "Sign in to the self-service portal and open My Bills: the last 12 months are "
     "listed with every charge explained. Call billing for questions about a charge.", "en", "billing", ["bill"]),
    ("退款流程", "退款申请提交后3-5个工作日原路退回。超过7天未到账请提供订单号联系客服。", "zh-CN", "billing",
     ["退款", "refund"]),
    ("Refund policy", "Refunds go back to the original payment method within 3-5 working days.", "en", "billing",
     ["refund"]),
    ("设备无法开机故障排查", "1. 检查电源适配器；2. 长按电源键10秒；3. 仍无法开机请预约上门维修。", "zh-CN", "support",
     ["故障", "support"]),
    ("Device does not power on", "Check the power adapter, hold the power button for 10 seconds, then book a "
     "repair visit if it still fails.", "en", "support", ["fault", "support"]),
    ("网络连接故障处理", "请重启路由器并检查指示灯。红灯常亮表示线路故障，"
     "需要提交工单由技术人员处理。", "zh-CN", "support",
     ["网络", "故障"]),
    ("产品价格与优惠", "本季度会员购买享九折，金卡及以上客户额外赠送一年延保。", "zh-CN", "sales",
     ["价格", "优惠", "price"]),
    ("Price list and offers", "Members get 10% off this quarter; gold and key accounts get an extra year of "
     "warranty.", "en", "sales", ["price", "order"]),
    ("投诉处理规范", "受理投诉须在24小时内首次回复，72小时内给出处理结果；"
     "重大投诉立即升级至主管。", "zh-CN", "complaints",
     ["投诉", "complaint"]),
    ("Complaint handling standard", "First reply within 24 hours, resolution within 72 hours; serious complaints "
     "go to a supervisor at once.", "en", "complaints", ["complaint"]),
    ("修改账户联系电话", "客户本人致电并通过账号和密码验证后，可由客服修改联系电话。", "zh-CN", "general", ["账户"]),
]
CASE_SUBJECTS = [("账单金额有误", "billing"), ("设备无法开机", "support"), ("网络经常断线", "support"),
                 ("申请退款", "billing"), ("咨询企业套餐", "sales"), ("投诉送货延迟", "complaints"),
                 ("Invoice copy needed", "billing"), ("Upgrade to premium plan", "sales")]


async def seed_demo(db: Database, *, progress: Progress = print, config_dir: Path | None = None,
                    now: datetime | None = None) -> dict[str, int]:
    """Create (or complete) the demo company; returns how many rows of each kind were added."""
    rng = random.Random(20240601)
    now = now or datetime.now(UTC)
    added = dict.fromkeys(("users", "customers", "dispositions", "scripts", "articles", "cases", "interactions"), 0)
    queues = _queues(config_dir)
    async with db.session() as s:
        have = set((await s.scalars(select(User.username))).all())
        wanted: list[tuple[str, str, str, str, str | None, str | None, dict[str, int]]] = [
            (username, password, role, display, None, ext, {}) for username, password, role, display, ext in DEMO_STAFF]
        # The agents are config/queues.yaml's roster (one list: the ACD's and the CRM's).
        for a in demo_agents(config_dir or DEFAULT_CONFIG_DIR):
            wanted.append((a.username, f"{a.username}-demo", "agent", a.name, a.agent_id, a.agent_id,
                           dict(a.skills)))
        for username, password, role, display, agent_id, ext, skills in wanted:
            if username not in have:
                await create_user(session=s, username=username, password=password, role=role, display_name=display,
                                  agent_id=agent_id, extension=ext, skills=skills, published=True)
                added["users"] += 1
            else:
                # Demo agents follow config/queues.yaml: a changed name or skill there reaches the next seed.
                user = await s.scalar(select(User).where(User.username == username))
                if user is not None and role == "agent":
                    user.skills, user.display_name = skills, display
                elif user is not None and (username, user.role, role) == ("mgr1", "supervisor", "manager"):
                    # Seeded as a supervisor before, though the demo calls mgr1 its manager. A session
                    # carries the role it was issued with: mgr1's end.
                    user.role = "manager"
                    await user_service.end_sessions(session=s, user_id=user.id)
                    progress("users: mgr1 is the manager now (an earlier seed made it a supervisor)")
    progress(f"users: {added['users']} added")
    async with db.session() as s:
        codes = set((await s.scalars(select(Disposition.code))).all())
        for code, label, zh, category, resolves in DISPOSITIONS:
            if code not in codes:
                s.add(Disposition(code=code, label=label, label_zh=zh, category=category, resolves=resolves))
                added["dispositions"] += 1
        names = set((await s.scalars(select(Script.name))).all())
        for name, queue, intent, lang, title, body in SCRIPTS:
            if name not in names and (queue is None or queue in queues):
                s.add(Script(name=name, queue=queue, intent=intent, language=lang, title=title, body=body))
                added["scripts"] += 1
        titles = set((await s.scalars(select(Article.title))).all())
        for title, body, lang, category, tags in ARTICLES:
            if title not in titles:
                s.add(Article(title=title, body=body, language=lang, category=category, tags=tags))
                added["articles"] += 1
    progress(f"catalogue: {added['dispositions']} dispositions, {added['scripts']} scripts, "
             f"{added['articles']} articles added")
    specs = _customers(rng)
    async with db.session() as s:
        existing = set((await s.scalars(select(CustomerPhone.e164))).all())
    for start in range(0, len(specs), 50):
        before = added["customers"]
        async with db.session() as s:
            for spec in specs[start:start + 50]:
                numbers = {to_e164(p.number) for p in spec.phones}
                # Seeded before (its mobile is there), or a number someone gave another customer since:
                # a number is refused on a second customer, so the spec is left out.
                if not numbers & existing:
                    await create_customer(session=s, data=spec)
                    existing |= numbers
                    added["customers"] += 1
        if added["customers"] > before:
            progress(f"customers: {added['customers']} added ({min(start + 50, len(specs))}/{len(specs)} checked)")
    there = len(specs) - added["customers"]
    progress(f"customers: {added['customers']} added" + (f" ({there} there already)" if there else ""))
    async with db.session() as s:
        customers = list((await s.scalars(select(Customer).order_by(Customer.id))).all())
        owners = list((await s.scalars(select(User).where(User.role == "agent").order_by(User.id))).all())
        have_cases = {(c.customer_id, c.subject) for c in (await s.scalars(select(Case))).all()}
        for n, customer in enumerate(customers[:60]):
            subject, category = CASE_SUBJECTS[n % len(CASE_SUBJECTS)]
            if (customer.id, subject) in have_cases:
                continue
            opened = now - timedelta(hours=rng.randrange(1, 24 * 20))
            case = await case_service.create_case(session=s, actor="seed", now=opened, data=CaseIn(
                subject=subject, category=category, customer_id=customer.id, owner_id=owners[n % len(owners)].id,
                priority=rng.choice(["low", "normal", "normal", "high", "urgent"]), description="demo case"))
            if n % 3 == 0:
                case.status, case.resolved_at = "resolved", opened + timedelta(hours=rng.randrange(1, 48))
            elif n % 7 == 0:
                case.escalation_level = 1
            if case.status != "resolved" and n % 12 != 1 and case.due_at is not None and case.due_at < now:
                # A few open cases are overdue (each is a supervisor alert); most are on time: the
                # first start had some forty alerts at once. Opened later, due within its standard.
                standard = case.due_at - case.created_at
                case.created_at = now - standard * ((n % 5 + 1) / 8)
                case.due_at = case.created_at + standard
            added["cases"] += 1
    progress(f"cases: {added['cases']} added")
    async with db.session() as s:
        seeded = await s.scalar(select(func.count(Interaction.id)).where(Interaction.linkedid.like("demo-%")))
    if not seeded:
        added["interactions"] = await _seed_interactions(db, rng, customers, queues, now, progress)
    progress(f"interactions: {added['interactions']} added")
    return added


def _journey(rng: random.Random, n: int, start: float, customer: Customer | None, queue: str) -> list[Event]:
    lid = f"demo-{n:05d}"
    number = customer.phones[0].e164 if customer and customer.phones else f"+86139{rng.randrange(10**8):08d}"
    cid = customer.id if customer else None
    evs: list[Event] = [CallArrived(ts=start, linkedid=lid, channel=f"PJSIP/trunk-{n:08x}", caller_number=number,
                                    dnis="4008001000")]
    roll = rng.random()
    t = start + rng.uniform(8, 40)
    if roll < 0.05:
        return [*evs, IvrFinished(ts=t, linkedid=lid, flow="demo", outcome="abandoned", started_at=start + 0.3,
                                  customer_id=cid), CallEnded(ts=t + 0.1, linkedid=lid)]
    evs += [IvrFinished(ts=t, linkedid=lid, flow="demo", outcome="queue", queue=queue, started_at=start + 0.3,
                        customer_id=cid, path=(
                            {"node": "main_menu", "label": "Main menu", "at": t - 3, "input": "1", "choice": queue},
                            {"node": queue, "label": queue.capitalize(), "at": t - 3, "input": None,
                             "choice": "queue", "intent": queue})),
            QueueEntered(ts=t + 0.1, linkedid=lid, queue=queue, customer_id=cid)]
    wait = rng.expovariate(1 / 25)
    agent = str(1000 + rng.randrange(1, 9))
    t += 0.1 + wait
    if roll < 0.15:
        return [*evs, QueueLeft(ts=t, linkedid=lid, queue=queue, reason="abandoned", waited_s=wait),
                CallEnded(ts=t, linkedid=lid)]
    if roll < 0.20:
        return [*evs, QueueLeft(ts=t, linkedid=lid, queue=queue, reason="voicemail", waited_s=wait),
                VoicemailLeft(ts=t + 30, linkedid=lid, mailbox="8000@cti"), CallEnded(ts=t + 31, linkedid=lid)]
    if roll < 0.25:
        return [*evs, QueueLeft(ts=t, linkedid=lid, queue=queue, reason="callback", waited_s=wait),
                CallbackRequested(ts=t + 5, linkedid=lid, number=number, queue=queue, customer_id=cid),
                CallEnded(ts=t + 6, linkedid=lid)]
    evs += [AgentRinging(ts=t, linkedid=lid, agent_id=agent, queue=queue),
            CallConnected(ts=t + 4, linkedid=lid, agent_id=agent, queue=queue)]
    talk = rng.uniform(60, 600)
    if rng.random() < 0.2:
        evs += [HoldStarted(ts=t + 30, linkedid=lid, agent_id=agent), HoldEnded(ts=t + 55, linkedid=lid,
                                                                                 agent_id=agent)]
    code, _label, _zh, _category, resolves = rng.choice(DISPOSITIONS[:8])
    kept = rng.random() < 0.9  # drawn for every call: the rest of the demo data stays as it was
    resolved = resolves and kept  # as agents tick it: the disposition's default, mostly kept
    return [*evs, CallEnded(ts=t + 4 + talk, linkedid=lid),
            WrapUpDone(ts=t + 4 + talk + rng.uniform(10, 90), linkedid=lid, agent_id=agent, disposition=code,
                       notes=rng.choice(["客户满意", "已解释资费", "需回访", "Customer asked for a copy of the invoice",
                                         ""]), resolved_first_contact=resolved)]


async def _seed_interactions(db: Database, rng: random.Random, customers: list[Customer], queues: dict[str, Any],
                             now: datetime, progress: Progress) -> int:
    names = [q for q in queues if q != "general"] or list(queues)
    with tempfile.TemporaryDirectory(prefix="cti-seed-") as tmp:
        logger = CallLogger(db, Path(tmp), sync="never", flush_interval_s=0)
        await logger.start()
        try:
            for n in range(1, DEMO_INTERACTIONS + 1):
                start = (now - timedelta(days=30) + timedelta(seconds=n * 30 * 86400 / DEMO_INTERACTIONS)).timestamp()
                customer = None if rng.random() < 0.1 else customers[rng.randrange(len(customers))]
                for ev in _journey(rng, n, start, customer, rng.choice(names)):
                    await logger.handle(ev)
                if n % 200 == 0:
                    await logger.flush(timeout_s=120)
                    progress(f"interactions: {n}/{DEMO_INTERACTIONS}")
            await logger.flush(timeout_s=120)
        finally:
            await logger.stop()
    return DEMO_INTERACTIONS
