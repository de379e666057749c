"""The city's verification (验码) answer as the vaccination page shows it: case one (not
real-name authenticated, in the city's own words), case two (the record), or a problem explained in
Chinese for the nurse with its reason code kept for machines.

Only the contract is read (SPEC "Province verification"): the HTTP status, ``result``, ``message``,
``record`` and ``error``; the call goes through the sandbox province's own signed client.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import requests

from erhc_h5.sandbox.cities import City
from erhc_h5.sync.province_verify import ProvinceVerifyClient, VerifyAnswer, from_config

NOT_AUTHENTICATED = "该用户未进行实名认证"
_REASON = re.compile(r"[a-z0-9_]{1,40}")
# The scan API's reason codes for a bad code (4xx), as a nurse needs to hear them.
CODE_PROBLEMS = {
    "malformed": "无法识别该二维码,请居民打开电子健康码后重新出示",
    "unknown_key": "该电子健康码无法验证,请居民刷新电子健康码后重新出示",
    "bad_signature": "该电子健康码校验未通过(可能被改动或截图不完整),请居民刷新后重新出示",
    "expired": "该电子健康码已过期,请居民刷新电子健康码后重新出示",
    "not_yet_valid": "该电子健康码的时间异常,请居民刷新电子健康码后重新出示",
    "bad_lifetime": "该电子健康码的有效期异常,请居民刷新电子健康码后重新出示",
    "key_revoked": "该电子健康码的签发密钥已停用,请居民刷新电子健康码后重新出示",
    "foreign_issuer": "发码城市表示此码不是它签发的,请联系省平台管理员核对城市配置",
    "unknown_card": "发码城市找不到该码对应的居民,请居民联系发码城市",
    "revoked": "该电子健康码已注销,不能用于接种登记",
    "replayed": "该码已在其他终端核验过,请居民刷新电子健康码后重新出示",
}
SIGNATURE_PROBLEM = "省平台与发码城市之间的签名校验未通过,请联系省平台管理员"
REQUEST_PROBLEM = "发码城市拒绝了本次验码请求,请联系省平台管理员"
BUSY = "发码城市的平台繁忙,请稍后重试"
UNAVAILABLE = "发码城市的平台暂时不可用,请稍后重试"
TIMEOUT = "发码城市的平台响应超时,请稍后重试"
UNREACHABLE = "无法连接发码城市的平台,请稍后重试;如持续出现请联系省平台管理员"
BAD_REPLY = "发码城市的答复无法识别,请联系省平台管理员"
CONTRADICTION = "发码城市的答复自相矛盾(记录未标记为已实名认证),不能据此接种,请联系省平台管理员"


@dataclass(frozen=True)
class Answer:
    """One verification as shown: ``case`` is authenticated, not_authenticated or problem."""

    case: str
    reason: str
    message: str
    record: dict | None = None
    status: int | None = None


def problem(reason: str, message: str, status: int | None = None) -> Answer:
    return Answer("problem", reason, message, status=status)


def ask_city(cfg, city: City, code: str) -> Answer:
    """Send the code to ``city`` once (signed, with a timeout) and read its answer; never raises."""
    timeout = float(cfg["SANDBOX_PROVINCE_TIMEOUT"])
    client: ProvinceVerifyClient = from_config(cfg, city.base_url, timeout=(timeout, timeout))
    try:
        reply = client.verify(code, str(cfg["SANDBOX_PROVINCE_TERMINAL"]))
    except requests.Timeout:
        return problem("city_timeout", TIMEOUT)
    except requests.ConnectionError:
        return problem("city_unreachable", UNREACHABLE)
    except (requests.RequestException, ValueError, RecursionError):
        return problem("bad_reply", BAD_REPLY)
    return read_answer(reply)


def read_answer(reply: VerifyAnswer) -> Answer:
    """The contract's replies: 200 with a result, 4xx with the scan's reasons, 401 signature refusals."""
    body, status = reply.body, reply.status
    if status == 200:
        return _verdict(body)
    error = body.get("error")
    reason = error if isinstance(error, str) and _REASON.fullmatch(error) else f"http_{status}"
    if status == 401:
        message = SIGNATURE_PROBLEM
    elif status == 429:
        message = BUSY
    elif status >= 500:
        message = UNAVAILABLE
    elif 400 <= status < 500:
        message = CODE_PROBLEMS.get(reason, REQUEST_PROBLEM)
    else:
        message = BAD_REPLY
    return problem(reason, message, status)


def _verdict(body: dict) -> Answer:
    result = body.get("result")
    if result == "not_authenticated":
        said = body.get("message")
        text = said if isinstance(said, str) and 0 < len(said) <= 100 else NOT_AUTHENTICATED
        return Answer("not_authenticated", "not_authenticated", text, status=200)
    record = body.get("record")
    if result == "authenticated" and isinstance(record, dict) and isinstance(record.get("id"), str):
        if record.get("recognize_flag") != 1 or record.get("cd_operation") == "d":  # never vaccinate on it
            return problem("contradictory_reply", CONTRADICTION, 200)
        return Answer("authenticated", "authenticated", "核验通过:已实名认证", record=record, status=200)
    return problem("bad_reply", BAD_REPLY, 200)
