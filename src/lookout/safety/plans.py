"""Response plans per level: the checklists of seed 001 §6 (Chongqing 2025 plan,
LB/T 068-2017), with who commands each level. Pure data and lookups.

Items with ``auto`` set are carried out by an adapter when the level is reached (stop
ticket sales, screen text, broadcast, notify the duty roster, upward report); the rest
are marked done by a person.
"""

from __future__ import annotations

from dataclasses import dataclass

from lookout.safety.engine import RANK


@dataclass(frozen=True)
class PlanItemSpec:
    key: str
    zh: str
    en: str
    auto: str | None = None  # the automatic action that carries it out, if any


@dataclass(frozen=True)
class LevelPlan:
    level: str
    commander: str  # site, department, district_gov
    commander_zh: str
    commander_en: str
    items: tuple[PlanItemSpec, ...]


PLANS: dict[str, LevelPlan] = {
    "yellow": LevelPlan(
        "yellow",
        "site",
        "旅游景区(经营管理单位)主导",
        "the scenic area (operator) commands",
        (
            PlanItemSpec("notify_duty", "通知值班人员并确认", "Notify the people on duty and get acknowledgement", "notify"),
            PlanItemSpec("screen_notice", "信息屏、LED屏发布预警提示", "Show the warning on information and LED screens", "screen"),
            PlanItemSpec("broadcast", "应急广播发布预警提示", "Broadcast the warning", "broadcast"),
            PlanItemSpec("prepare", "做好应急准备", "Prepare the emergency response"),
            PlanItemSpec(
                "service_points",
                "增设临时服务点,提供基础医疗、投诉受理及信息咨询等服务",
                "Set up temporary service points: first aid, complaints, information",
            ),
            PlanItemSpec("vehicles", "增调车辆,做好疏散接驳准备", "Bring in extra vehicles for evacuation shuttles"),
            PlanItemSpec(
                "open_channels",
                "开放全部游客通道,加强重点区域人员疏导",
                "Open every visitor channel; guide people in key areas",
            ),
            PlanItemSpec("supplies", "迅速调集应急所需物资、设备、工具", "Gather emergency supplies, equipment and tools"),
            PlanItemSpec(
                "announce_report",
                "提前向社会公告并向属地区县人民政府报告",
                "Announce to the public and report to the district/county government",
            ),
        ),
    ),
    "orange": LevelPlan(
        "orange",
        "department",
        "旅游景区主管部门主导",
        "the competent department commands",
        (
            PlanItemSpec("notify_duty", "通知值班人员并确认", "Notify the people on duty and get acknowledgement", "notify"),
            PlanItemSpec("stop_sales", "停止售票", "Stop ticket sales", "ticketing"),
            PlanItemSpec("screen_notice", "信息屏、LED屏发布限流提示", "Show entry limiting on information and LED screens", "screen"),
            PlanItemSpec("broadcast", "应急广播发布限流提示", "Broadcast entry limiting", "broadcast"),
            PlanItemSpec("monitor", "加强监测,有序疏导人员", "Intensify monitoring; guide people in order"),
            PlanItemSpec("limit_entry", "限制进场", "Limit entry"),
            PlanItemSpec("one_way", "景区内单向通行", "One-way flow inside the site"),
            PlanItemSpec(
                "traffic",
                "协调公安、交通部门和乡镇(街道)做好交通运力动态调整、周边道路管控、停车控制、车辆调度控制等引导分流工作",
                "Coordinate police, transport and township: transport capacity, road control, parking and vehicle dispatch",
            ),
        ),
    ),
    "red": LevelPlan(
        "red",
        "district_gov",
        "区县人民政府主导",
        "the district/county government commands",
        (
            PlanItemSpec("notify_duty", "通知值班人员并确认", "Notify the people on duty and get acknowledgement", "notify"),
            PlanItemSpec("upward_report", "向区县人民政府应急指挥处置机构报告(事发区域、人群规模、影响范围)", "Report upward to the district emergency command (area, crowd size, scope of impact)", "upward"),
            PlanItemSpec("screen_notice", "信息屏、LED屏发布只出不进提示", "Show exit-only notice on information and LED screens", "screen"),
            PlanItemSpec("broadcast", "应急广播发布只出不进提示", "Broadcast the exit-only notice", "broadcast"),
            PlanItemSpec("backup_exits", "启用备用进出口", "Open the backup entrances and exits"),
            PlanItemSpec("exit_only", "内部只出不进", "Exit only: no more entries"),
            PlanItemSpec("divert", "采取分流、限行、单向通行等措施", "Divert, restrict traffic, one-way flow"),
            PlanItemSpec(
                "guides",
                "在险要、易拥堵路段安排专人引导和疏散,快速减少场内人员",
                "Post guides on dangerous and congested stretches; reduce the crowd quickly",
            ),
            PlanItemSpec(
                "remote_limits",
                "在远端采取分流、疏堵、限入、劝返、单循环等措施",
                "Remote flow control: diversion, unblocking, entry limits, turning back, one-way loops",
            ),
            PlanItemSpec(
                "circuit_break",
                "必要时启用熔断措施:外围封控,只出不进,做好退票和滞留人员疏散",
                "If needed, circuit-break: seal the perimeter, exit only, refunds and evacuation of those stranded",
            ),
        ),
    ),
}

SCREEN_TEXT = {
    "none": ("游客您好,景区当前客流正常,祝您游览愉快。", "Visitor numbers are normal. Enjoy your visit."),
    "yellow": (
        "三级(黄色)预警:景区客流较大,请服从工作人员引导,有序游览。",
        "Level 3 (yellow): the site is busy. Please follow staff directions.",
    ),
    "orange": (
        "二级(橙色)预警:景区已停止售票并限制进场,请勿前往,服从引导单向通行。",
        "Level 2 (orange): ticket sales stopped, entry limited. Please do not come; follow the one-way route.",
    ),
    "red": (
        "一级(红色)预警:景区只出不进,请按指引从最近出口有序离开,勿拥挤。",
        "Level 1 (red): exit only. Please leave calmly by the nearest exit; do not push.",
    ),
}


def plan_for(level: str) -> LevelPlan | None:
    return PLANS.get(level)


def auto_actions(previous: str, level: str) -> list[str]:
    """Automatic actions for a level change: the auto items of every level crossed when escalating;
    screen/broadcast updates and resuming sales when de-escalating below orange."""
    if RANK[level] > RANK[previous]:  # every level crossed: none → red also stops ticket sales
        acts: list[str] = []
        for lv in ("yellow", "orange", "red"):
            if RANK[previous] < RANK[lv] <= RANK[level]:
                acts += [i.auto for i in PLANS[lv].items if i.auto and i.auto not in acts]
        return acts
    acts = ["screen", "broadcast"]
    if RANK[previous] >= RANK["orange"] > RANK[level]:
        acts.append("resume_sales")
    if level != "none":
        acts.append("notify")
    return acts
