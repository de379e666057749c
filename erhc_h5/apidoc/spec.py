"""The OpenAPI 3.0 document of the JSON APIs (scan, province verification, sandbox province, ops),
built from the contract.

The 5.2.2 record schema is derived from ``erhc_h5.records.standard.FIELDS`` so it cannot drift.
"""
from __future__ import annotations

from erhc_h5.records.standard import FIELDS

NOT_AUTHENTICATED_MESSAGE = "该用户未进行实名认证"
METHOD_PATTERN = r"^[1-4](\^[1-4])*$"
DATETIME = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str, headers: dict | None = None) -> dict:
    reply = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        reply["headers"] = headers
    return reply


def _error(description: str, headers: dict | None = None) -> dict:
    return _json(_ref("Error"), description, headers)


RETRY_AFTER = {"Retry-After": {"description": "等待秒数", "schema": {"type": "string", "pattern": r"^\d+$"}}}
COMMON_ERRORS = {
    "405": _error("不支持此请求方式"),
    "429": _error("操作过于频繁(附 Retry-After)", RETRY_AFTER),
}


def verified_record_schema() -> dict:
    """The record a province verification returns: as last queued upward, so ``cd_batch`` is null
    until the version joins a batch."""
    schema = record_schema()
    schema["properties"]["cd_batch"] = {**schema["properties"]["cd_batch"], "nullable": True}
    schema["properties"]["recognize_flag"] = {**schema["properties"]["recognize_flag"], "enum": [1]}
    schema["required"] = [name for name in schema["required"] if name != "cd_batch"]
    return schema


def record_schema() -> dict:
    """One 5.2.2 record as it travels upward: every field, wire types, lengths in characters."""
    properties = {}
    for f in FIELDS:
        if f.type == "N":
            prop = {"type": "integer", "enum": [0, 1], "description": f.label}
        else:
            prop = {"type": "string", "maxLength": f.max_len, "description": f"{f.label}({f.length})"}
        if not f.required:
            prop["nullable"] = True
        properties[f.name] = prop
    properties["authentication_method"]["pattern"] = r"^([1-4](\^[1-4])*)?$"
    properties["cd_operation"]["enum"] = ["i", "u", "d"]
    properties["birthday"]["pattern"] = r"^\d{4}-\d{2}-\d{2}$"
    properties["cd_time"]["pattern"] = DATETIME["pattern"]
    return {"type": "object", "required": [f.name for f in FIELDS if f.required], "properties": properties}


SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "稳定的机器原因码", "pattern": r"^[a-z_]+$"},
            "message": {"type": "string", "description": "中文说明"},
        },
    },
    "ScanRequest": {
        "type": "object",
        "required": ["code"],
        "properties": {
            "code": {"type": "string", "description": "二维码内容,原样提交"},
            "device_time": {"type": "number", "description": "可选:扫码设备的当前时间(Unix 秒)。只用于在码因时间被拒时说明"
                            "是哪一方的时钟不准,不影响核验结果;无法使用的值被忽略"},
        },
    },
    "ScannedResident": {
        "type": "object",
        "required": ["name", "sex", "birthday", "id_card_type_code", "idcode"],
        "properties": {
            "name": {"type": "string", "maxLength": 20},
            "sex": {"type": "string", "enum": ["0", "1", "2", "9"]},
            "birthday": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
            "id_card_type_code": {"type": "string", "maxLength": 2},
            "idcode": {"type": "string", "maxLength": 30},
            "nation": {"type": "string", "maxLength": 2, "nullable": True},
        },
    },
    "ScanAuthenticated": {
        "type": "object",
        "required": ["result", "resident", "authentication_method"],
        "properties": {
            "result": {"type": "string", "enum": ["authenticated"]},
            "resident": _ref("ScannedResident"),
            "authentication_method": {"type": "string", "pattern": METHOD_PATTERN},
            "authenticated_at": {**DATETIME, "nullable": True},
            "voucher_no": {"type": "string"},
            "scanned_at": {**DATETIME, "nullable": True},
        },
    },
    "ScanNotAuthenticated": {
        "type": "object",
        "required": ["result", "message"],
        "properties": {
            "result": {"type": "string", "enum": ["not_authenticated"]},
            "message": {"type": "string", "enum": [NOT_AUTHENTICATED_MESSAGE]},
        },
    },
    "AuthRecord": record_schema(),
    "ProvinceVerifyRequest": {
        "type": "object",
        "required": ["code", "terminal"],
        "properties": {
            "code": {"type": "string", "description": "二维码内容,原样提交"},
            "terminal": {"type": "string", "pattern": r"^[\x20-\x7e]{1,64}$", "description": "省级平台扫码终端编号"},
        },
    },
    "ProvinceVerifyAuthenticated": {
        "type": "object",
        "required": ["result", "record"],
        "properties": {
            "result": {"type": "string", "enum": ["authenticated"]},
            "record": _ref("VerifiedRecord"),
        },
    },
    "VerifiedRecord": verified_record_schema(),
    "UploadEnvelope": {
        "type": "object",
        "required": ["cd_batch", "cd_source", "records"],
        "properties": {
            "cd_batch": {"type": "string", "pattern": r"^\d{19}$"},
            "cd_source": {"type": "string", "pattern": r"^\d{4}$"},
            "records": {"type": "array", "minItems": 1, "maxItems": 500, "items": _ref("AuthRecord")},
        },
    },
    "UploadReply": {
        "type": "object",
        "required": ["cd_batch", "accepted", "rejected"],
        "properties": {
            "cd_batch": {"type": "string"},
            "accepted": {"type": "array", "items": {"type": "string"}},
            "rejected": {"type": "array", "items": {
                "type": "object",
                "required": ["id", "errors"],
                "properties": {
                    "id": {"type": "string"},
                    "errors": {"type": "array", "items": {
                        "type": "object", "required": ["field", "reason"],
                        "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
                    }},
                },
            }},
        },
    },
    "OpsStatus": {
        "type": "object",
        "required": ["generated_at", "outbox", "sync", "province", "rejected", "verification", "scans", "filing"],
        "properties": {
            "generated_at": {"type": "string"},
            "window_hours": {"type": "integer"},
            "outbox": {"type": "object", "required": ["by_state", "backlog"], "properties": {
                "by_state": {"type": "object", "additionalProperties": {"type": "integer"}},
                "backlog": {"type": "integer", "minimum": 0},
                "oldest_pending_age_seconds": {"type": "number", "nullable": True},
                "batches": {"type": "object", "additionalProperties": {"type": "integer"}},
            }},
            "sync": {"type": "object"},
            "alerts": {"type": "array", "description": "需要运维处理的告警", "items": {
                "type": "object", "required": ["code", "level", "message"], "properties": {
                    "code": {"type": "string", "enum": ["database_disk_full", "database_read_only",
                                                        "database_write_failed", "clock_offset",
                                                        "filing_delivery_stuck", "link_notice_stuck"]},
                    "level": {"type": "string"},
                    "message": {"type": "string"},
                }}},
            "province": {"type": "object", "required": ["state", "label"], "properties": {
                "state": {"type": "string", "enum": ["idle", "ok", "failing"]},
                "label": {"type": "string"},
                "clock": {"type": "object", "description": "省级平台时钟减本服务器时钟(秒),取自最近一次上传回复的 Date 头",
                          "properties": {
                              "state": {"type": "string", "enum": ["unknown", "ok", "skewed"]},
                              "offset_seconds": {"type": "number", "nullable": True},
                              "measured_at": {"type": "string", "nullable": True},
                              "alert_seconds": {"type": "number"},
                              "label": {"type": "string"},
                          }},
            }},
            "rejected": {"type": "array", "items": {"type": "object"}},
            "verification": {"type": "object"},
            "scans": {"type": "array", "items": {"type": "object"}},
            "filing": {"type": "object", "additionalProperties": {"type": "integer"}},
            "database": {"type": "object", "description": "数据库能否写入(就绪探针的写入)", "properties": {
                "write": {"type": "string", "enum": ["ok", "disk_full", "read_only", "unavailable", "write_failed"]}}},
            "waiting": {"type": "object", "description": "提交后发送、尚未送达的工作(备案申请表、账号关联提醒短信)",
                        "additionalProperties": {"$ref": "#/components/schemas/WaitingSends"}},
        },
    },
    "WaitingSends": {
        "type": "object", "required": ["count", "stuck", "stuck_after_minutes"],
        "properties": {
            "count": {"type": "integer", "minimum": 0},
            "oldest_at": {"type": "string", "nullable": True},
            "stuck": {"type": "integer", "minimum": 0, "description": "排队超过 stuck_after_minutes 分钟的条数"},
            "stuck_after_minutes": {"type": "integer"},
            "last_error": {"type": "string", "nullable": True, "description": "最近一次失败的原因码"},
        },
    },
    "Health": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["ok"]}}},
    "Ready": {
        "type": "object",
        "required": ["status", "checks"],
        "properties": {
            "status": {"type": "string", "enum": ["ready", "degraded", "not_ready"]},
            "checks": {"type": "object", "properties": {
                "database": {"type": "string", "enum": ["ok", "unavailable"]},
                "migrations": {"type": "string", "enum": ["ok", "behind", "unknown"]},
                "limiter_store": {"type": "string", "enum": ["ok", "unavailable", "disabled", "memory"]},
            }},
        },
    },
}

_SIGNED_HEADERS = [
    ("X-Erhc-App-Id", {"type": "string"}, "城市平台应用标识"),
    ("X-Erhc-Timestamp", {"type": "string", "pattern": r"^\d{1,12}$"}, "Unix 秒"),
    ("X-Erhc-Nonce", {"type": "string", "pattern": r"^[0-9a-f]{32}$"}, "32 位小写十六进制,不得重复"),
    ("X-Erhc-Signature", {"type": "string", "pattern": r"^[0-9a-f]{64}$"},
     'HMAC-SHA256(secret, "POST\\n" + path + "\\n" + timestamp + "\\n" + nonce + "\\n" + sha256_hex(body))'),
]
_CITY_SIGNED_PARAMETERS = [{"name": n, "in": "header", "required": True, "schema": s, "description": d}
                           for n, s, d in _SIGNED_HEADERS]
# The province's calls carry the same signed headers, under its own caller id.
_PROVINCE_SIGNED_PARAMETERS = [
    {"name": n, "in": "header", "required": True, "schema": s,
     "description": d.replace("城市平台应用标识", "省级平台验码调用方标识(ERHC_PROVINCE_VERIFY_ID)")}
    for n, s, d in _SIGNED_HEADERS]

PATHS = {
    "/api/v1/scan": {
        "post": {
            "operationId": "scan",
            "summary": "接种点扫码核验电子健康码",
            "tags": ["scan"],
            "security": [{"deviceToken": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("ScanRequest")}}},
            "responses": {
                "200": _json({"oneOf": [_ref("ScanAuthenticated"), _ref("ScanNotAuthenticated")]},
                             "已实名:居民基本信息;未实名:该用户未进行实名认证"),
                "400": _error("请求体不是 {\"code\": \"…\"}"),
                "401": _error("缺少或无效的设备令牌", {"WWW-Authenticate": {"schema": {"type": "string"}}}),
                "413": _error("请求内容过大"),
                "422": _error("码已过期、被篡改、非本平台、格式错误、已注销或重复使用"),
                **COMMON_ERRORS,
            },
        },
    },
    "/api/v1/province/verify": {
        "post": {
            "operationId": "provinceVerify",
            "summary": "省级平台验码:返回已实名居民当前的实名认证记录",
            "tags": ["province"],
            "parameters": _PROVINCE_SIGNED_PARAMETERS,
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": _ref("ProvinceVerifyRequest")}}},
            "responses": {
                "200": _json({"oneOf": [_ref("ProvinceVerifyAuthenticated"), _ref("ScanNotAuthenticated")]},
                             "已实名:当前实名认证记录(最近一次上报的版本);其他:该用户未进行实名认证"),
                "400": _error("请求体不是 {\"code\": \"…\", \"terminal\": \"…\"}"),
                "401": _error("签名缺失或错误、调用方标识未知、时间戳超出±300秒或随机数重复",
                              {"WWW-Authenticate": {"schema": {"type": "string"}}}),
                "413": _error("请求内容过大"),
                "422": _error("码已过期、被篡改、非本平台、格式错误、已注销或已在其他终端使用(与扫码接口的原因码相同)"),
                "503": _error("数据服务暂不可用,请稍后重试", RETRY_AFTER),
                **COMMON_ERRORS,
            },
        },
    },
    "/api/v1/province/filing-decision": {
        "post": {
            "operationId": "provinceFilingDecision",
            "summary": "省级平台送达应用备案审批结果(应用备案号、入网编码、管理单位意见、审批日期)",
            "tags": ["province"],
            "parameters": _PROVINCE_SIGNED_PARAMETERS,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "additionalProperties": False,
                "required": ["filing_id", "outcome", "opinion", "decided_on", "decision_no"],
                "properties": {
                    "filing_id": {"type": "integer", "minimum": 1},
                    "outcome": {"type": "string", "enum": ["approved", "rejected"]},
                    "app_filing_no": {"type": "string", "pattern": r"^([A-Za-z0-9_-]{1,20})?$"},
                    "access_code": {"type": "string", "pattern": r"^([0-9]{6,20})?$"},
                    "opinion": {"type": "string", "minLength": 1, "maxLength": 500},
                    "decided_on": {"type": "string", "format": "date"},
                    "decision_no": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,64}$"},
                }}}}},
            "responses": {
                "200": _json({"type": "object", "required": ["result"], "properties": {
                    "result": {"type": "string", "enum": ["recorded", "already_recorded"]}}},
                    "已登记;同一审批结果重复送达时为 already_recorded"),
                "401": _error("签名缺失或错误、调用方标识未知、时间戳超出±300秒或随机数重复",
                              {"WWW-Authenticate": {"schema": {"type": "string"}}}),
                "404": _error("unknown_filing:找不到该备案申请"),
                "409": _error("already_decided:已登记不同的审批结果;not_pending:该申请未提交省级"),
                "413": _error("请求内容过大"),
                "422": _error("格式错误或号码已被占用(与登记页面的原因码相同)"),
                "503": _error("数据服务暂不可用,请稍后重试", RETRY_AFTER),
                **COMMON_ERRORS,
            },
        },
    },
    "/sandbox-province/filings/applications": {
        "post": {
            "operationId": "deliverFilingApplication",
            "summary": "(沙箱省级平台)接收城市电子报送的《备案申请表》",
            "tags": ["province"],
            "parameters": _CITY_SIGNED_PARAMETERS,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["filing_id", "cd_source", "app_name", "auth_methods"],
                "properties": {"filing_id": {"type": "integer"}, "cd_source": {"type": "string", "pattern": r"^\d{4}$"},
                               "app_name": {"type": "string"},
                               "auth_methods": {"type": "array", "items": {"type": "string"}}}}}}},
            "responses": {
                "200": _json({"type": "object", "properties": {"result": {"type": "string", "enum": ["received"]},
                                                              "application_id": {"type": "integer"}}}, "已接收"),
                "400": _error("申请表 JSON 有误"),
                "401": _error("应用标识、时间戳、随机数或签名有误"),
                "413": _error("请求内容过大"),
                **COMMON_ERRORS,
            },
        },
    },
    "/sandbox-province/erhc/v1/auth-records": {
        "post": {
            "operationId": "uploadAuthRecords",
            "summary": "(沙箱省级平台)接收实名认证记录批次",
            "tags": ["province"],
            "parameters": _CITY_SIGNED_PARAMETERS,
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("UploadEnvelope")}}},
            "responses": {
                "200": _json(_ref("UploadReply"), "逐条接收或拒收"),
                "400": _error("批次级拒收:JSON、信封或批次号有误"),
                "401": _error("批次级拒收:应用标识、时间戳、随机数或签名有误"),
                "413": _error("批次级拒收:超过500条或请求体过大"),
                "503": _error("暂时不可用,请稍后用同一批次重试"),
                **COMMON_ERRORS,
            },
        },
    },
    "/ops/status.json": {
        "get": {
            "operationId": "opsStatus",
            "summary": "运维指标(无个人数据)",
            "tags": ["ops"],
            "security": [{"opsToken": []}, {"staffSession": []}],
            "responses": {
                "200": _json(_ref("OpsStatus"), "指标"),
                "401": _error("未登录且无运维令牌"),
                "403": _error("无运维权限"),
                **COMMON_ERRORS,
            },
        },
    },
    "/healthz": {
        "get": {"operationId": "healthz", "summary": "存活检查", "tags": ["ops"],
                "responses": {"200": _json(_ref("Health"), "进程可用"), **COMMON_ERRORS}},
    },
    "/readyz": {
        "get": {"operationId": "readyz", "summary": "就绪检查(数据库、迁移与限流存储;限流存储不可用时为 degraded 且仍为200)", "tags": ["ops"],
                "responses": {"200": _json(_ref("Ready"), "就绪"), "503": _json(_ref("Ready"), "未就绪"),
                              **COMMON_ERRORS}},
    },
}


def build_spec(*, sandbox: bool = True, server_url: str = "/") -> dict:
    """The whole OpenAPI 3.0.3 document (the sandbox receiver only where it is mounted)."""
    paths = {k: v for k, v in PATHS.items() if sandbox or not k.startswith("/sandbox-province/")}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "erhc-h5 JSON API",
            "version": "1",
            "description": "市级电子健康码管理平台 H5 实名认证模块的 JSON 接口:扫码核验、沙箱省级平台接收、运维状态。",
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "deviceToken": {"type": "http", "scheme": "bearer", "description": "扫码设备令牌"},
                "opsToken": {"type": "http", "scheme": "bearer", "description": "ERHC_OPS_TOKEN"},
                "staffSession": {"type": "apiKey", "in": "cookie", "name": "session", "description": "运维或管理员登录"},
            },
        },
    }
