"""The `filing` command group: file an app with the province, record its decision, issue the launch
secret, list the registry. For a production bootstrap, before any staff account exists; every change
is audited as the CLI. Bad input prints one Chinese line and exits with status 2, writing nothing."""
from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import AppGroup

from erhc_h5.config import PLACEHOLDER  # deploy/app.json, the sample form, marks each value to fill in
from erhc_h5.db import session_scope, writing
from erhc_h5.filing.models import DecisionOutcome, DecisionSource, FiledApp
from erhc_h5.text import ascii_digits

filing_cli = AppGroup("filing", help="应用备案:提交省级、登记省级审批结果、接入密钥。")
JSON_FIELDS = ("app_name", "app_filing_no", "org_name", "org_filing_no", "builder_unit", "builder_contact",
               "developer_unit", "developer_contact", "auth_methods", "allowed_origins")


def _fail(message: str) -> None:
    click.echo(message, err=True)
    raise click.exceptions.Exit(2)


def _read_json(path: str | None) -> dict:
    if not path:
        _fail("请用 --file 指定备案申请表 JSON 文件")
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError:
        _fail("无法读取备案申请表文件:请检查 --file 路径")
    except (UnicodeDecodeError, ValueError):
        _fail("备案申请表文件不是有效的 UTF-8 JSON")
    if not isinstance(data, dict):
        _fail("备案申请表 JSON 应为一个对象(字段名: 值)")
    unknown = sorted(set(data) - set(JSON_FIELDS))
    if unknown:
        _fail(f"备案申请表 JSON 含有不认识的字段:{', '.join(unknown)}")
    placeholders = sorted(k for k, v in data.items() if PLACEHOLDER in json.dumps(v, ensure_ascii=False))
    if placeholders:
        _fail(f"备案申请表仍是示例文件的占位内容 {PLACEHOLDER},请填写:{', '.join(placeholders)}")
    if isinstance(data.get("allowed_origins"), list):
        data["allowed_origins"] = " ".join(str(o) for o in data["allowed_origins"])
    return data


def _load(session, app_id: str | None) -> FiledApp:
    if not app_id or not ascii_digits(app_id):
        _fail("请给出应用编号(数字,见 flask filing list)")
    app = session.get(FiledApp, int(app_id))
    if app is None:
        _fail(f"找不到编号为 {app_id} 的备案应用")
    return app


@filing_cli.command("create")
@click.option("--file", "path", default=None, help="备案申请表 JSON")
def filing_create(path: str | None) -> None:
    """Create a filing from a JSON form and send it to the province; prints the app id last."""
    from erhc_h5.filing.services import FilingError, create_application, send_to_province

    data = _read_json(path)
    try:
        with writing(), session_scope() as session:
            app = create_application(session, data, actor_id=None, actor_type="cli")
            send_to_province(session, app)
            app_id = app.id
    except FilingError as exc:
        _fail(str(exc))
    click.echo(app_id)


@filing_cli.command("decide")
@click.argument("app_id", required=False)
@click.option("--app-filing-no", default="", help="省级分配的应用备案号")
@click.option("--access-code", default="", help="省级分配的接入组件入网编码")
@click.option("--opinion", default="", help="管理单位意见")
@click.option("--date", "decided_on", default="", help="省级审批日期 YYYY-MM-DD")
@click.option("--form", "form_path", default=None, help="加盖印章的申请表(PDF、PNG或JPEG,可选)")
@click.option("--reject", is_flag=True, help="登记省级不予通过")
def filing_decide(app_id, app_filing_no, access_code, opinion, decided_on, form_path, reject) -> None:
    """Record the province's approval (or, with --reject, its rejection) of a filing."""
    from erhc_h5.filing.decisions import DecisionInput, record_decision
    from erhc_h5.filing.services import FilingError

    form_data = None
    if form_path:
        try:
            form_data = Path(form_path).read_bytes()
        except OSError:
            _fail("无法读取盖章申请表文件:请检查 --form 路径")
    given = DecisionInput(outcome=DecisionOutcome.REJECTED if reject else DecisionOutcome.APPROVED,
                          opinion=opinion, decided_on=decided_on, app_filing_no=app_filing_no,
                          access_code=access_code, form_data=form_data)
    try:
        with writing(), session_scope() as session:
            app = _load(session, app_id)
            record_decision(session, app, given, actor_id=None, source=DecisionSource.CLI, require_form=False)
            line = f"{app.id}\t{app.status}\t{app.app_filing_no or '-'}\t{app.access_code or '-'}"
    except FilingError as exc:
        _fail(str(exc))
    click.echo(line)


@filing_cli.command("secret")
@click.argument("app_id", required=False)
def filing_secret(app_id) -> None:
    """Create or rotate an approved app's launch secret and print it, once."""
    from erhc_h5.filing.services import FilingError, rotate_secret

    try:
        with writing(), session_scope() as session:
            app = _load(session, app_id)
            secret = rotate_secret(session, app, actor_id=None, actor_type="cli")
    except FilingError as exc:
        _fail(str(exc))
    click.echo(secret)


@filing_cli.command("list")
def filing_list() -> None:
    """Every filing: id, state, 应用备案号, 入网编码, name (tab-separated, newest first)."""
    from erhc_h5.filing.services import list_applications

    with session_scope() as session:
        click.echo("id\tstatus\tapp_filing_no\taccess_code\tapp_name")
        for app in list_applications(session):
            click.echo(f"{app.id}\t{app.status}\t{app.app_filing_no or '-'}\t{app.access_code or '-'}\t"
                       f"{app.app_name}")


@filing_cli.command("deliver")
def filing_deliver() -> None:
    """Send the 申请表 deliveries the province has not taken yet; last line JSON {"delivered", "failed"}."""
    from erhc_h5.filing.delivery import deliver_pending

    with session_scope() as session:
        result = deliver_pending(session)
    click.echo(json.dumps(result))
