"""Files of a filing, under random names in UPLOAD_DIR (outside static): the 实名认证界面设计 screenshots
(PNG/JPEG checked by Pillow) and the province's stamped 申请表 (PDF, PNG or JPEG checked by magic bytes)."""
from __future__ import annotations

import errno
import io
import re
import secrets
from pathlib import Path

from flask import current_app
from PIL import Image, UnidentifiedImageError
from sqlalchemy.orm import Session

from erhc_h5.audit import audit
from erhc_h5.filing.models import FiledApp
from erhc_h5.filing.services import EDITABLE_STATES, FilingError

FORMATS = {"PNG": ".png", "JPEG": ".jpg"}
MIMETYPES = {".png": "image/png", ".jpg": "image/jpeg", ".pdf": "application/pdf"}
STORED_NAME = re.compile(r"^[0-9a-f]{32}\.(png|jpg)$")
FORM_NAME = re.compile(r"^form-[0-9a-f]{32}\.(pdf|png|jpg)$")
MAGIC = ((b"%PDF-", ".pdf"), (b"\x89PNG\r\n\x1a\n", ".png"), (b"\xff\xd8\xff", ".jpg"))
MAX_SCREENS = 12
MAX_PIXELS = 40_000_000


def upload_dir() -> Path:
    path = Path(current_app.config["UPLOAD_DIR"]) / "filing"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _storage_error(exc) from None
    return path


def _write(name: str, data: bytes) -> None:
    """Write an upload; a folder that cannot be written (missing rights, a full disk) is a FilingError
    naming the setting to check, never a traceback; a half-written file is removed."""
    path = upload_dir() / name
    try:
        path.write_bytes(data)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise _storage_error(exc) from None


def _storage_error(exc: OSError) -> FilingError:
    full = exc.errno == errno.ENOSPC
    return FilingError("upload_storage_full" if full else "upload_storage_unwritable",
                       "上传文件夹所在磁盘已满,文件未保存" if full else
                       "上传文件夹无法写入(请检查 ERHC_UPLOAD_DIR 的路径与服务用户的写权限),文件未保存")


def check_image(data: bytes) -> tuple[str, int, int]:
    """The (format, width, height) of a genuine PNG or JPEG within the size limit, else FilingError."""
    limit = int(current_app.config["UPLOAD_MAX_BYTES"])
    if not data:
        raise FilingError("empty_file", "请选择要上传的截图文件", "screens")
    if len(data) > limit:
        raise FilingError("too_large", f"截图不能超过{limit // (1024 * 1024) or 1}MB", "screens")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt, (width, height) = probe.format, probe.size
            probe.verify()
        if fmt not in FORMATS:
            raise FilingError("bad_type", "截图只能是PNG或JPEG图片", "screens")
        if width * height > MAX_PIXELS:
            raise FilingError("too_large", "截图分辨率过大", "screens")
        with Image.open(io.BytesIO(data)) as full:
            full.load()  # verify() does not decode pixel data; a truncated file fails here
    except FilingError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise FilingError("bad_image", "文件不是有效的PNG或JPEG图片", "screens") from None
    return fmt, width, height


def add_screen(session: Session, app: FiledApp, data: bytes, *, actor_id: int) -> dict:
    """Store a checked screenshot under a random name and list it on the application."""
    if app.status not in EDITABLE_STATES:
        raise FilingError("not_editable", f"“{app.status_label}”状态的申请不能修改截图")
    if len(app.ui_design_files or []) >= MAX_SCREENS:
        raise FilingError("too_many", f"最多上传{MAX_SCREENS}张截图", "screens")
    fmt, width, height = check_image(data)
    name = secrets.token_hex(16) + FORMATS[fmt]
    _write(name, data)
    entry = {"file": name, "format": fmt, "width": width, "height": height, "bytes": len(data)}
    app.ui_design_files = [*(app.ui_design_files or []), entry]
    session.flush()
    audit(session, "filing.screen_add", actor_type="staff", actor_id=actor_id, target_type="filed_app",
          target_id=app.id, detail={"file": name, "format": fmt})
    return entry


def remove_screen(session: Session, app: FiledApp, name: str, *, actor_id: int) -> None:
    if app.status not in EDITABLE_STATES:
        raise FilingError("not_editable", f"“{app.status_label}”状态的申请不能修改截图")
    if not any(f["file"] == name for f in app.ui_design_files or []):
        raise FilingError("unknown_file", "找不到该截图")
    app.ui_design_files = [f for f in app.ui_design_files if f["file"] != name]
    session.flush()
    audit(session, "filing.screen_remove", actor_type="staff", actor_id=actor_id, target_type="filed_app",
          target_id=app.id, detail={"file": name})


def screen_path(app: FiledApp, name: str) -> Path | None:
    """The stored file of one of this application's screenshots, or None."""
    if not STORED_NAME.match(name or "") or not any(f["file"] == name for f in app.ui_design_files or []):
        return None
    path = upload_dir() / name
    return path if path.is_file() else None


def check_stamped_form(data: bytes) -> str:
    """The file suffix of a stamped 申请表 within the size limit, told by its first bytes, else FilingError."""
    limit = int(current_app.config["UPLOAD_MAX_BYTES"])
    if not data:
        raise FilingError("form_required", "请上传加盖管理单位印章的备案申请表(PDF、PNG或JPEG)", "stamped_form")
    if len(data) > limit:
        raise FilingError("form_too_large", f"盖章申请表不能超过{limit // (1024 * 1024) or 1}MB", "stamped_form")
    for magic, suffix in MAGIC:
        if data.startswith(magic):
            return suffix
    raise FilingError("form_bad_type", "盖章申请表只能是PDF、PNG或JPEG文件", "stamped_form")


def store_stamped_form(data: bytes, suffix: str) -> str:
    """Write an already checked stamped form under a random name; returns that name."""
    name = f"form-{secrets.token_hex(16)}{suffix}"
    _write(name, data)
    return name


def stamped_form_path(name: str | None) -> Path | None:
    """The stored stamped form called ``name`` (as recorded on a decision), or None."""
    if not FORM_NAME.match(name or ""):
        return None
    path = upload_dir() / name
    return path if path.is_file() else None
