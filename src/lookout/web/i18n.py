"""Every string the operator UI shows, in Chinese (default) and English.

``t(key, lang)`` looks a string up; an unknown key shows itself, so a missing translation
is visible in review instead of breaking a page. ``pick_lang`` decides the language from a
query parameter, a cookie, the account's preference, then the default (Chinese).
"""

from __future__ import annotations

import re
from typing import Any

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
LANG_COOKIE = "lookout_lang"

STRINGS: dict[str, tuple[str, str]] = {
    # frame
    "app.name": ("Lookout 视频监控指挥平台", "Lookout command platform"),
    "app.short": ("Lookout", "Lookout"),
    "nav.overview": ("区域总览", "Overview"),
    "nav.wall": ("视频墙", "Video wall"),
    "nav.alerts": ("预警中心", "Alert centre"),
    "nav.om": ("运维", "O&M"),
    "nav.ledger": ("设备台账", "Ledger"),
    "nav.compliance": ("合规统计", "Compliance"),
    "nav.settings": ("设置", "Settings"),
    "nav.logout": ("退出", "Sign out"),
    "nav.lang_switch": ("English", "中文"),
    "live.on": ("实时", "Live"),
    "live.off": ("离线", "Offline"),
    "live.connecting": ("连接中", "Connecting"),
    "empty": ("暂无数据", "Nothing to show"),
    "not_landed": ("该功能模块尚未安装", "This capability is not installed yet"),
    "page.prev": ("上一页", "Previous"),
    "page.next": ("下一页", "Next"),
    "page.of": ("第 {page} / {pages} 页,共 {total} 条", "Page {page} of {pages}, {total} in all"),
    "filter": ("筛选", "Filter"),
    "search": ("搜索", "Search"),
    "all": ("全部", "All"),
    "save": ("保存", "Save"),
    "add": ("添加", "Add"),
    "delete": ("删除", "Delete"),
    "saved": ("已保存", "Saved"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "updated_at": ("更新时间", "Updated"),
    "error.forbidden": ("当前账号无权执行此操作", "This account may not do that"),
    "error.not_found": ("未找到", "Not found"),
    # login
    "login.title": ("登录", "Sign in"),
    "login.username": ("用户名", "User name"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Sign in"),
    "login.failed": ("用户名或密码错误", "Wrong user name or password"),
    "login.offline_note": ("本系统在专网内离线运行", "This platform runs offline on the private network"),
    # levels and statuses
    "level.none": ("正常", "Normal"),
    "level.yellow": ("三级(黄色)", "Level 3 (yellow)"),
    "level.orange": ("二级(橙色)", "Level 2 (orange)"),
    "level.red": ("一级(红色)", "Level 1 (red)"),
    "status.online": ("在线", "online"),
    "status.offline": ("离线", "offline"),
    "status.fault": ("故障", "fault"),
    "status.unknown": ("未知", "unknown"),
    "category.scenic_area": ("景区", "Scenic area"),
    "category.hotel": ("酒店", "Hotel"),
    "category.tourism_other": ("其他涉旅场所", "Other tourism"),
    "category.public_place": ("公共场所", "Public place"),
    # overview
    "overview.title": ("区域总览", "District overview"),
    "overview.sites": ("场所", "Sites"),
    "overview.present": ("在场人数", "Visitors now"),
    "overview.capacity_pct": ("承载率", "% of capacity"),
    "overview.level": ("预警等级", "Level"),
    "overview.today": ("今日累计", "Visitors today"),
    "overview.online_rate": ("在线率", "Online rate"),
    "overview.normal_rate": ("正常率", "Normal rate"),
    "overview.faults": ("待处理故障", "Open faults"),
    "overview.cameras": ("摄像机", "Cameras"),
    "overview.map": ("场所分布", "Site map"),
    "overview.total_present": ("全区在场", "In the district now"),
    "overview.total_today": ("全区今日累计", "District visitors today"),
    "overview.sites_warning": ("预警场所", "Sites on warning"),
    "overview.category": ("类别", "Category"),
    # site
    "site.title": ("场所", "Site"),
    "site.zones": ("区域", "Zones"),
    "site.zone": ("区域", "Zone"),
    "site.count": ("人数", "People"),
    "site.zone_capacity": ("瞬时承载量", "Instant capacity"),
    "site.density": ("密度(人/㎡)", "Density (people/m²)"),
    "site.gauge": ("在场 / 瞬时承载量", "Present / instant capacity"),
    "site.daily": ("今日累计 / 日最大承载量", "Today / daily maximum"),
    "site.curve": ("今日客流曲线", "Today's visitors"),
    "site.curve_actual": ("实际", "actual"),
    "site.curve_forecast": ("预测", "forecast"),
    "site.curve_hour": ("时间", "hour"),
    "site.no_forecast": ("暂无预测", "no forecast yet"),
    "site.cameras": ("摄像机", "Cameras"),
    "site.plan": ("平面图", "Site plan"),
    "site.timezone": ("时区", "Time zone"),
    "site.hours": ("开放时间", "Opening hours"),
    "site.open_incident": ("当前事件", "Open incident"),
    "site.unlimited": ("未核定", "not set"),
    "site.screen": ("游客信息屏", "Visitor information screen"),
    # cameras
    "cam.name": ("名称", "Name"),
    "cam.code": ("国标编码", "GB/T 28181 code"),
    "cam.status": ("状态", "Status"),
    "cam.site": ("场所", "Site"),
    "cam.reason": ("原因", "Reason"),
    "cam.since": ("状态时间", "Since"),
    "cam.snapshot": ("最新截图", "Latest snapshot"),
    "cam.no_snapshot": ("无截图", "no snapshot"),
    "cam.zone": ("区域", "Zone"),
    "cam.class": ("资源类别", "Resource class"),
    "cam.reference": ("基准画面", "Reference view"),
    "cam.reference_none": ("未标记", "not marked"),
    "cam.reference_set": ("已标记", "marked"),
    "cam.reference_presets": ("已标记 {n} 个预置位", "{n} presets marked"),
    "cam.fixed_view": ("固定视角", "fixed view"),
    "cam.preset_optional": ("预置位（可选）", "preset (optional)"),
    "cam.mark_reference": ("标记当前画面为正确", "Mark the current view as correct"),
    "cam.marking": ("正在取图…", "Taking a picture…"),
    "cam.reference_no_focus": ("画面细节过少，无法据此判断虚焦；请对准有清晰物体的视野后重新标记",
                               "Too little detail in this view to judge focus by; aim at a view with sharp objects "
                               "and mark it again"),
    "cam.ptz": ("云台", "PTZ"),
    "cam.preset_number": ("预置位号", "preset no."),
    "cam.call_preset": ("调用预置位", "Call preset"),
    "cam.preset_called": ("已调用预置位 {n}", "preset {n} called"),
    "cam.calling": ("正在调用…", "Calling…"),
    "cam.key_area": ("重点区域", "Key area"),
    "cam.retention": ("存储天数", "Retention days"),
    "cam.url": ("取流地址", "Stream URL"),
    "cam.device": ("设备编码", "Device code"),
    # video wall
    "wall.title": ("视频墙", "Video wall"),
    "wall.layout": ("分屏", "Layout"),
    "wall.no_stream": ("无视频", "no video"),
    "wall.snapshots": ("每秒截图", "1-fps snapshots"),
    "wall.live": ("实时视频", "Live video"),
    "wall.no_live": ("实时视频模块未安装,显示摄像机状态", "Live video is not installed; showing camera states"),
    # alerts
    "alerts.title": ("预警中心", "Alert centre"),
    "alerts.incidents": ("事件", "Incidents"),
    "alerts.open": ("进行中", "Open"),
    "alerts.closed": ("已结束", "Closed"),
    "alerts.opened_at": ("开始时间", "Opened"),
    "alerts.closed_at": ("结束时间", "Closed"),
    "alerts.peak": ("最高等级", "Peak level"),
    "alerts.peak_present": ("最高在场", "Peak present"),
    "alerts.peak_daily": ("最高累计", "Peak of the day"),
    "alerts.checklist": ("响应处置清单", "Response checklist"),
    "alerts.commander": ("指挥", "Commands"),
    "alerts.done": ("完成", "Done"),
    "alerts.mark_done": ("标记完成", "Mark done"),
    "alerts.auto": ("自动", "automatic"),
    "alerts.alerts": ("通知", "Alerts"),
    "alerts.tier": ("层级", "Tier"),
    "alerts.deadline": ("确认时限", "Deadline"),
    "alerts.ack": ("确认", "Acknowledge"),
    "alerts.acked": ("已确认", "Acknowledged"),
    "alerts.escalate": ("升级上报", "Escalate"),
    "alerts.report": ("事件报告", "Incident report"),
    "alerts.report_pdf": ("下载报告 PDF", "Report PDF"),
    "alerts.timeline": ("时间线", "Timeline"),
    "alerts.drill": ("演练", "drill"),
    "alerts.none_selected": ("请选择一个事件", "Choose an incident"),
    "alerts.status.open": ("待确认", "open"),
    "alerts.status.acked": ("已确认", "acknowledged"),
    "alerts.status.escalated": ("已升级", "escalated"),
    "alerts.status.expired": ("超时", "expired"),
    "alerts.msg.acked": ("已确认,确认用时已记录", "Acknowledged; the response time is recorded"),
    "alerts.msg.escalated": ("已升级至上一级值班", "Escalated to the next tier's duty roster"),
    "alerts.msg.no_next_tier": ("没有可升级的上一级值班人员", "No higher tier has anybody on duty"),
    "alerts.scope": ("影响范围", "Scope"),
    "alerts.zones": ("区域峰值", "Zone peaks"),
    "tier.site": ("场所", "site"),
    "tier.district": ("区县", "district"),
    "tier.city": ("市级", "city"),
    "commander.site": ("景区主导", "site commands"),
    "commander.department": ("主管部门主导", "department commands"),
    "commander.district_gov": ("区县政府主导", "district government commands"),
    "event.level": ("等级变化", "level change"),
    "event.action": ("处置", "action"),
    "event.ack": ("确认", "acknowledged"),
    "event.escalation": ("升级", "escalation"),
    "event.alert": ("通知", "alert"),
    "event.report": ("报告", "report"),
    "event.note": ("备注", "note"),
    # O&M
    "om.title": ("运维", "Operations & maintenance"),
    "om.faulty": ("离线与故障摄像机", "Offline and faulty cameras"),
    "om.work_orders": ("工单", "Work orders"),
    "om.trend": ("在线率趋势", "Online-rate trend"),
    "set.inputs": ("预报输入（天气、活动）", "Forecast inputs (weather, events)"),
    "set.inputs_hint": ("按日填写降水、最高气温和活动规模：过去的日子供模型学习，未来的日子用于预报",
                        "Daily rainfall, top temperature and event size: past days teach the model, coming days are forecast with them"),
    "set.day": ("日期", "Day"),
    "set.input": ("输入项", "Input"),
    "set.value": ("数值", "Value"),
    "set.set_by": ("填写人", "Set by"),
    "om.online_now": ("当前在线率", "Online now"),
    "om.normal_now": ("当前正常率", "Normal now"),
    "om.normal_hint": ("在线且画面无故障", "online with no picture fault"),
    "om.day": ("日期", "Day"),
    "om.no_reference": ("未标记基准画面的通道", "Channels without a reference view"),
    "om.no_reference_hint": ("遮挡、偏色、条纹干扰须标记基准画面后才开工单；在场所页的摄像机列表中标记",
                             "Occlusion, colour cast and stripes open work orders only once a reference view is "
                             "marked; mark it in a site's camera list"),
    "om.target": ("目标", "target"),
    "om.wo.id": ("工单号", "No."),
    "om.wo.fault": ("故障", "Fault"),
    "om.wo.status": ("状态", "Status"),
    "om.wo.deadline": ("整改期限", "Deadline"),
    "om.wo.opened": ("创建时间", "Opened"),
    "om.wo.assignee": ("负责人", "Assignee"),
    "om.wo.all": ("全部工单", "All work orders"),
    "om.patrols": ("巡检记录", "Patrols"),
    "patrol.title": ("巡检报告 {id}", "Patrol report {id}"),
    "patrol.started": ("开始时间", "Started"),
    "patrol.trigger": ("类型", "Kind"),
    "patrol.cameras": ("摄像机", "Cameras"),
    "patrol.online": ("在线", "Online"),
    "patrol.duration": ("用时", "Took"),
    "patrol.report": ("报告", "Report"),
    "patrol.result": ("巡检结果", "Result"),
    "patrol.reason": ("原因", "Reason"),
    "patrol.reference": ("参照画面", "Reference"),
    "patrol.outcome.normal": ("正常", "normal"),
    "patrol.outcome.fault": ("画面故障", "picture fault"),
    "patrol.outcome.offline": ("离线", "offline"),
    "patrol.by_site": ("按场所", "By site"),
    "patrol.faults_found": ("发现的故障", "Faults found"),
    "patrol.export": ("导出 CSV", "Export CSV"),
    "patrol.results": ("逐台结果", "Camera by camera"),
    "patrol.scope_note": ("只统计本账号有权查看的摄像机。", "Only the cameras this account may see are counted."),
    "wo.title": ("工单 {id}", "Work order {id}"),
    "wo.story": ("处理经过", "What happened"),
    "wo.key_area": ("重点区域", "key area"),
    "wo.reopened": ("重开次数", "Reopened"),
    "wo.vendor": ("设备厂商", "Vendor"),
    "wo.opening_picture": ("开单时画面", "Picture when opened"),
    "wo.handle_on_camera": ("在摄像机页面处理 ›", "Handle it on the camera's page ›"),
    "wo.actor": ("操作人", "By"),
    "wo.actor.platform": ("平台自动巡检", "the platform's patrol"),
    "wo.what": ("经过", "What"),
    "wo.event.opened": ("开单：连续巡检发现{fault}", "opened: {fault} seen in consecutive patrols"),
    "wo.event.close_requested": ("申请关单", "close requested"),
    "wo.event.recheck_passed": ("复核通过，工单关闭", "re-check passed, closed"),
    "wo.event.recheck_failed": ("复核未通过，工单重新打开", "re-check failed, reopened"),
    "wo.event.escalated": ("超期升级", "escalated"),
    "wo.detail.still": ("复核仍发现{fault}", "the re-check still shows {fault}"),
    "wo.detail.no_picture": ("复核未取到画面，无法确认修复", "no picture at the re-check: the repair cannot be confirmed"),
    "wo.detail.told": ("已通知{tier}值班：{names}", "told the {tier} duty roster: {names}"),
    "wo.detail.told_nobody": ("无人值班，未能通知", "nobody on duty to tell"),
    "wo.detail.escalated": ("超期 {h} 小时，升级至第 {level} 级", "overdue by {h} h, escalated to level {level}"),
    "wo.detail.acked": ("{who} 已于 {at} 确认", "acknowledged by {who} at {at}"),
    "wo.detail.not_acked": ("待确认", "not acknowledged yet"),
    "wo.event.acknowledged": ("确认知悉超期升级", "escalation acknowledged"),
    "wo.acknowledge": ("确认知悉", "Acknowledge"),
    "wo.event.reassigned": ("转派", "handed on"),
    "wo.reassign": ("转派", "Hand on"),
    "wo.reassigning": ("转派中…", "Handing on…"),
    "wo.reassign_to": ("转派给", "Hand on to"),
    "wo.reassign_note": ("转派说明（可选）", "why (optional)"),
    "wo.acknowledging": ("确认中…", "Acknowledging…"),
    "wo.acknowledged": ("已确认，处理经过已记录", "acknowledged and recorded"),
    "wo.ack_waiting": ("本工单已超期升级，尚无人确认知悉。", "This order was escalated and nobody has acknowledged it yet."),
    "om.wo.live": ("未关闭", "not closed"),
    "om.wo.any": ("全部", "all"),
    "om.wo.mine": ("只看我的", "mine only"),
    "om.wo.overdue_only": ("仅超期", "overdue only"),
    "om.wo.escalated_only": ("仅已升级", "escalated only"),
    "om.wo.unacknowledged_only": ("仅升级待确认", "escalation not acknowledged"),
    "om.wo.unacknowledged_n": ("{n} 张升级工单待确认", "{n} escalated orders not acknowledged"),
    "om.wo.closed_at": ("关闭时间", "Closed"),
    "om.wo.repair_h": ("修复用时(小时)", "Repair (h)"),
    "om.wo.note": ("处理说明", "Note"),
    "om.wo.overdue": ("已超期", "overdue"),
    "om.wo.escalated": ("已升级", "escalated"),
    "wo.escalation_level": ("升级级别", "Escalation level"),
    "om.wo.export": ("导出 CSV", "Export CSV"),
    "om.repair": ("近 30 天维修时效", "Repair times, last 30 days"),
    "om.repair.by_site": ("按场所", "By site"),
    "om.repair.by_vendor": ("按厂商", "By vendor"),
    "om.repair.orders": ("工单", "Orders"),
    "om.repair.open": ("未关闭", "Open"),
    "om.repair.overdue": ("超期未关", "Overdue"),
    "om.repair.median": ("修复中位数(时)", "Median repair (h)"),
    "om.repair.on_time": ("按期率", "On time"),
    "fault.offline": ("离线", "offline"),
    "fault.signal_loss": ("信号丢失", "signal loss"),
    "fault.frozen": ("画面冻结", "frozen picture"),
    "fault.blur": ("图像模糊", "blur"),
    "fault.occlusion": ("画面遮挡", "occlusion"),
    "fault.too_dark": ("画面过暗", "too dark"),
    "fault.too_bright": ("画面过亮", "too bright"),
    "fault.color_cast": ("偏色", "colour cast"),
    "fault.noise": ("雪花噪声", "noise"),
    "fault.stripes": ("条纹干扰", "stripes"),
    "fault.scene_change": ("场景变换", "scene change"),
    "wo.status.open": ("待处理", "open"),
    "wo.status.rechecking": ("复核中", "re-checking"),
    "wo.status.closed": ("已关闭", "closed"),
    "trigger.schedule": ("定时巡检", "scheduled patrol"),
    "trigger.manual": ("手动巡检", "manual patrol"),
    "trigger.recheck": ("关单复核", "re-check"),
    # one camera's health
    "camera.health": ("摄像机健康", "Camera health"),
    "camera.device": ("所属设备", "Device"),
    "camera.latest": ("最近一次诊断", "Latest diagnosis"),
    "camera.never": ("尚未巡检", "not patrolled yet"),
    "camera.offline": ("未取到画面", "no picture"),
    "camera.with_reference": ("对照基准画面", "against the reference view"),
    "camera.without_reference": ("无基准画面", "without a reference view"),
    "camera.fault": ("诊断项", "Check"),
    "camera.score": ("评分", "Score"),
    "camera.threshold": ("告警阈值", "Threshold"),
    "camera.own_threshold": ("本通道阈值", "This camera's"),
    "camera.result": ("结果", "Result"),
    "camera.over": ("超限", "fault"),
    "camera.ok": ("正常", "ok"),
    "reason.picture_faults": ("画面故障：", "picture faults: "),
    "reason.probe_failed": ("取流失败：", "stream probe failed: "),
    "reason.picture_received": ("取流正常，收到画面", "stream probe: picture received"),
    # the reasons GB/T 28181 gives (federation.gb28181.presence and .store)
    "reason.gb_registered": ("设备注册", "registered"),
    "reason.gb_keepalive": ("收到心跳", "keepalive received"),
    "reason.gb_unregistered": ("设备注销(Expires: 0)", "unregistered (Expires: 0)"),
    "reason.gb_expired": ("注册过期", "registration expired"),
    "reason.gb_no_keepalive": ("{s} 秒无心跳(漏 {n} 次)", "no keepalive for {s} s ({n} missed)"),
    "reason.gb_device_offline": ("GB/T 28181 设备离线：", "GB/T 28181 device offline: "),
    "reason.gb_device_online": ("GB/T 28181 设备上线：", "GB/T 28181 device online: "),
    "reason.gb_event_on": ("目录事件 ON(上线)", "catalog event ON"),
    "reason.gb_event_off": ("目录事件 OFF(离线)", "catalog event OFF"),
    "reason.gb_event_vlost": ("视频丢失(目录事件 VLOST)", "video lost (catalog event VLOST)"),
    "reason.gb_event_defect": ("设备故障(目录事件 DEFECT)", "device defect (catalog event DEFECT)"),
    "reason.gb_event_del": ("已从设备目录删除(目录事件 DEL)", "removed from the device's catalog (catalog event DEL)"),
    "reason.gb_catalog_on": ("GB/T 28181 目录：状态 ON", "GB/T 28181 catalog: Status ON"),
    "reason.gb_catalog_off": ("GB/T 28181 目录：状态 OFF", "GB/T 28181 catalog: Status OFF"),
    "camera.at_preset": ("预置位 {p}", "preset {p}"),
    "camera.explained": ("达到阈值，未单独报告", "over the threshold, not reported on its own"),
    "camera.thresholds_hint": ("评分达到阈值即判为故障(0–100);留空沿用景区或全局阈值;勾选“不诊断”则不再判该项(如夜间无人走廊等本就静止的画面不判画面冻结)",
                               "A score at or above the threshold is a fault (0–100); leave empty for the site's or the deployment's; tick “not judged” to stop judging that fault (e.g. frozen for a view that is still by nature, such as an empty corridor at night)"),
    "camera.not_judged": ("不诊断", "not judged"),
    "site.thresholds": ("视频质量诊断阈值", "Picture-quality thresholds"),
    "site.thresholds_hint": ("本景区所有摄像机的故障阈值(0–100),评分达到阈值即判为故障;留空沿用全局阈值;勾选“不诊断”则本景区不判该项;单台摄像机可在其页面另设",
                             "Fault thresholds (0–100) for all of this site's cameras: a score at or above one is a fault; leave empty for the deployment's; tick “not judged” to stop judging that fault at this site; a camera can have its own on its page"),
    "site.deployment_threshold": ("全局阈值", "Deployment"),
    "site.own_threshold": ("本景区阈值", "This site's"),
    "camera.save_thresholds": ("保存阈值", "Save thresholds"),
    "camera.clear_thresholds": ("恢复全局阈值", "Back to the deployment's"),
    "camera.thresholds_saved": ("阈值已保存", "thresholds saved"),
    "camera.thresholds_cleared": ("已恢复全局阈值", "back to the deployment's thresholds"),
    "camera.patrol_now": ("立即巡检", "Patrol now"),
    "camera.patrolling": ("正在巡检…", "Patrolling…"),
    "camera.history": ("诊断记录", "Diagnoses"),
    "camera.time": ("时间", "Time"),
    "camera.trigger": ("方式", "Trigger"),
    "camera.faults": ("故障", "Faults"),
    "camera.none": ("无", "none"),
    "camera.picture": ("画面", "Picture"),
    "err.401": ("未授权（401）：用户名或密码错误", "unauthorized (401): wrong user name or password"),
    "err.403": ("禁止访问（403）：该账号无权查看此码流", "forbidden (403): the account may not view this stream"),
    "err.404": ("码流不存在（404）：路径错误或摄像机离线", "stream not found (404): wrong path or camera offline"),
    "err.refused": ("连接被拒绝：该地址无服务监听", "connection refused: nothing listens at that address"),
    "err.dropped": ("摄像机断开了连接", "connection dropped by the camera"),
    "err.461": ("摄像机拒绝该传输方式（RTSP 461）：请改用 TCP 或 UDP 中的另一种",
                "transport refused by the camera (RTSP 461): try the other of TCP/UDP"),
    "err.timeout": ("超时：摄像机无应答", "timed out: no answer from the camera"),
    "err.ended": ("码流已结束", "stream ended"),
    "err.server": ("服务器错误：", "server error: "),
    "err.invalid": ("码流损坏或格式不支持（无效数据）：", "corrupt or unsupported stream (invalid data): "),
    "err.format": ("不支持的格式：", "unsupported format: "),
    "err.network": ("网络错误：", "network error: "),
    "err.not_diagnosable": ("画面无法诊断：", "not diagnosable: "),
    "err.no_picture": ("{s} 秒内未取到画面", "no picture within {s} s"),
    "camera.rates": ("近 {days} 天", "Last {days} days"),
    "camera.changes": ("近 7 天状态变化", "State changes, last 7 days"),
    "camera.orders": ("工单", "Work orders"),
    "camera.repair_note": ("维修说明", "Repair note"),
    "camera.close_order": ("已修复，申请关单", "Repaired: close"),
    "camera.closing": ("正在复核…", "Re-checking…"),
    "camera.recheck.pending": ("复核中", "re-check pending"),
    "camera.recheck.passed": ("复核通过，工单已关闭", "re-check passed: closed"),
    "camera.recheck.failed": ("复核未通过，工单重新打开", "re-check failed: reopened"),
    # ledger
    "ledger.title": ("设备台账", "Device ledger"),
    "ledger.import": ("导入台账(CSV/Excel)", "Import ledger (CSV/Excel)"),
    "ledger.import_submit": ("导入", "Import"),
    "ledger.dry_run": ("仅校验,不写入", "Check only, do not write"),
    "ledger.export": ("导出", "Export"),
    "ledger.errors": ("行错误", "Row errors"),
    "ledger.row": ("行", "Row"),
    "ledger.field": ("字段", "Field"),
    "ledger.message": ("说明", "Message"),
    "ledger.result": ("共 {rows} 行,有效 {valid} 行,导入 {imported} 行(新增 {created},更新 {updated},未变 {unchanged})",
                      "{rows} rows, {valid} valid, {imported} imported ({created} new, {updated} updated, {unchanged} unchanged)"),
    "ledger.not_written": ("存在错误,未写入任何数据", "Errors found: nothing was written"),
    "ledger.bad_file": ("无法读取文件", "Cannot read the file"),
    # compliance
    "comp.title": ("合规统计", "Compliance"),
    "comp.networking": ("联网率", "Networking rate"),
    "comp.online": ("在线率", "Online rate"),
    "comp.retention": ("存储达标率", "Retention rate"),
    "comp.coverage": ("覆盖率", "Coverage rate"),
    "comp.by_site": ("按场所", "By site"),
    "comp.by_category": ("按类别", "By category"),
    "comp.channels": ("通道数", "Channels"),
    "comp.normal": ("正常率", "Normal rate"),
    "comp.month": ("统计月份", "Month"),
    "comp.target": ("目标(%)", "Target (%)"),
    "comp.timed": ("在线率、正常率按 {first} 至 {last} 的在线时长计算", "online and normal rates over the time from {first} to {last}"),
    "comp.moment": ("在线率、正常率为当前状态（未保存在线历史）", "online and normal rates of this moment (no online history kept)"),
    "comp.targets": ("目标:在线率、点位正常率 ≥ 98%(重点)/ 95%;存储:涉旅 90 天,一般 60 天",
                     "Targets: online and normal rate ≥ 98% (key) / 95%; retention: tourism 90 days, general 60 days"),
    "comp.help": ("联网率=已接入取流的通道/台账通道;在线率=在线时长(含画面故障)/观测时长;正常率=在线且画面无故障的时长/观测时长"
                  "(无在线历史时按当前状态的通道数计);存储达标率=存储天数达标的通道;覆盖率=有摄像机覆盖的区域/全部区域",
                  "Networking = channels with a stream connected / ledger channels; online = time delivering video "
                  "(with or without a picture fault) / time observed; normal = time online with no picture fault / time "
                  "observed (without an online history: channels in that state now); retention = channels meeting the "
                  "required days; coverage = zones with a camera / all zones"),
    # settings
    "set.title": ("设置", "Settings"),
    "set.capacity": ("承载量与预警阈值", "Capacity and thresholds"),
    "set.daily_max": ("日最大承载量", "Daily maximum"),
    "set.instant_max": ("瞬时最大承载量", "Instantaneous maximum"),
    "set.yellow": ("黄色 %", "Yellow %"),
    "set.orange": ("橙色 %", "Orange %"),
    "set.red": ("红色 %", "Red %"),
    "set.duty": ("值班表", "Duty roster"),
    "set.duty_name": ("姓名", "Name"),
    "set.duty_where": ("所属", "Post"),
    "set.shift": ("班次", "Shift"),
    "set.phone": ("电话", "Phone"),
    "set.email": ("邮箱", "Email"),
    "set.users": ("账号与权限范围", "Accounts and scopes"),
    "set.role": ("角色", "Role"),
    "set.scope": ("范围", "Scope"),
    "set.clearance": ("可见资源类别", "Clearance"),
    "set.everything": ("全部", "everything"),
    "set.new_password": ("初始密码", "Initial password"),
    "set.display_name": ("显示名", "Display name"),
    "set.invalid": ("输入有误", "Invalid input"),
    "role.admin": ("系统管理员", "administrator"),
    "role.official": ("主管部门", "official"),
    "role.operator": ("值班员", "duty operator"),
    "role.om_engineer": ("运维工程师", "O&M engineer"),
    "role.site_manager": ("场所管理员", "site manager"),
    "role.viewer": ("只读", "viewer"),
}


def normalise(lang: str | None) -> str | None:
    if not lang:
        return None
    lang = lang.lower()
    if lang.startswith("en"):
        return "en"
    if lang.startswith("zh"):
        return "zh"
    return None


def pick_lang(query: str | None, cookie: str | None, account: str | None = None) -> str:
    for cand in (query, cookie, account):
        n = normalise(cand)
        if n:
            return n
    return DEFAULT_LANG


def t(key: str, lang: str = DEFAULT_LANG, **kw: Any) -> str:
    pair = STRINGS.get(key)
    if pair is None:
        return key
    s = pair[1] if lang == "en" else pair[0]
    return s.format(**kw) if kw else s


def _fault_name(fault: str, lang: str) -> str:
    key = f"fault.{fault}"
    return t(key, lang) if key in STRINGS else fault


#: reasons stored word for word, with their keys (kept equal to what the GB/T 28181 modules write;
#: tests/test_i18n.py checks each against those modules)
_FIXED_REASONS = {
    "stream probe: picture received": "reason.picture_received",
    "registered": "reason.gb_registered",
    "keepalive received": "reason.gb_keepalive",
    "unregistered (Expires: 0)": "reason.gb_unregistered",
    "registration expired": "reason.gb_expired",
    "catalog event ON": "reason.gb_event_on",
    "catalog event OFF": "reason.gb_event_off",
    "video lost (catalog event VLOST)": "reason.gb_event_vlost",
    "device defect (catalog event DEFECT)": "reason.gb_event_defect",
    "removed from the device's catalog (catalog event DEL)": "reason.gb_event_del",
    "GB/T 28181 catalog: Status ON": "reason.gb_catalog_on",
    "GB/T 28181 catalog: Status OFF": "reason.gb_catalog_off",
}
_NO_KEEPALIVE = re.compile(r"no keepalive for (?P<s>[\d.]+) s \((?P<n>\d+) missed\)")
#: reasons that carry another reason after a prefix
# a stream's failure as the reader names it (``media.ingest.classify_error``) and a patrol's own
_STREAM_ERRORS = (("unauthorized (401): wrong user name or password", "err.401"),
                  ("forbidden (403): the account may not view this stream", "err.403"),
                  ("stream not found (404): wrong path or camera offline", "err.404"),
                  ("connection refused: nothing listens at that address", "err.refused"),
                  ("connection dropped by the camera", "err.dropped"),
                  ("transport refused by the camera (RTSP 461): try the other of TCP/UDP", "err.461"),
                  ("timed out: no answer from the camera", "err.timeout"),
                  ("stream ended", "err.ended"),
                  ("server error: ", "err.server"),
                  ("corrupt or unsupported stream (invalid data): ", "err.invalid"),
                  ("unsupported format: ", "err.format"),
                  ("network error: ", "err.network"),
                  ("not diagnosable: ", "err.not_diagnosable"))
_NO_PICTURE_WITHIN = re.compile(r"no picture within (?P<s>\d+) s")


def stream_error(text: str | None, lang: str = DEFAULT_LANG) -> str:
    """Why a stream gave no picture, in the reader's language where its form is known (the detail
    the camera or FFmpeg gave stays as they said it), else as stored."""
    if not text:
        return ""
    if m := _NO_PICTURE_WITHIN.fullmatch(text):
        return t("err.no_picture", lang, s=m["s"])
    for prefix, key in _STREAM_ERRORS:
        if text.startswith(prefix):
            return t(key, lang) + text[len(prefix):]
    return text


_PREFIXED_REASONS = (("GB/T 28181 device offline: ", "reason.gb_device_offline"),
                     ("GB/T 28181 device online: ", "reason.gb_device_online"),
                     ("stream probe failed: ", "reason.probe_failed"))


def reason(text: str | None, lang: str = DEFAULT_LANG) -> str:
    """A camera state's stored reason in the reader's language where its form is known (those a
    patrol gives, ``health.status.status_from_patrol``, and those of GB/T 28181 registration,
    keepalive and catalog), else as stored."""
    if not text:
        return "—"
    if text in _FIXED_REASONS:
        return t(_FIXED_REASONS[text], lang)
    if text.startswith("picture faults: "):
        names = [_fault_name(f.strip(), lang) for f in text[len("picture faults: "):].split(",")]
        return t("reason.picture_faults", lang) + ("、" if lang != "en" else ", ").join(names)
    if m := _NO_KEEPALIVE.fullmatch(text):
        return t("reason.gb_no_keepalive", lang, s=m["s"], n=m["n"])
    for prefix, key in _PREFIXED_REASONS:
        if text.startswith(prefix):
            inner = text[len(prefix):]
            # the device's own reason inside is translated too, and a probe's error where its form is known
            return t(key, lang) + (reason(inner, lang) if key != "reason.probe_failed" else stream_error(inner, lang))
    return text


def bundle(lang: str, prefixes: tuple[str, ...] = ("level.", "status.", "live.", "alerts.status.",
                                                    "wo.status.")) -> dict[str, str]:
    """The strings the browser needs for live updates."""
    return {k: t(k, lang) for k in STRINGS if k.startswith(prefixes)}
