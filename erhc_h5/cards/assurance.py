"""Assurance levels: what each real-name method proves, and the rule that assurance only climbs.

A name and an ID number are known to strangers, so the methods prove different things:

    two-factor (1)   knowledge of name and number                                   level 1
    three-factor (2) the carrier's record of the phone plus the phone in hand (SMS) level 2
    face (3)         liveness matched to the authority's photo                      level 3
    on-site (4)      the document inspected by staff                                level 4

A card remembers the highest level its checks reached (``EHealthCard.assurance_level``), the level
that proved its phone and the level that supplied its profile; an account's verified link remembers
the level of the check that made it (``AppUser.link_level``). The rule, applied by
``cards.issue_or_update_card`` and the cancellation page: a request whose *authority* — the level of
its fresh check, or of the account's link to this very card — is below the card's level neither
links a new account for good, nor changes the card, nor cancels it; the resident is offered the
stronger methods instead (a step-up).
"""
from __future__ import annotations

from erhc_h5.records.codes import AuthMethod, has_method


LEVELS = {AuthMethod.TWO_FACTOR: 1, AuthMethod.THREE_FACTOR: 2, AuthMethod.FACE: 3, AuthMethod.ONSITE: 4}
# A phone is proven by an SMS code to it together with the carrier's record (three-factor).
PHONE_PROVEN_LEVEL = LEVELS[AuthMethod.THREE_FACTOR]
# What a resident reads for each method (plain words, not the standard's jargon).
PLAIN_NAMES = {
    AuthMethod.TWO_FACTOR: "姓名+身份证号核验",
    AuthMethod.THREE_FACTOR: "加手机短信验证",
    AuthMethod.FACE: "刷脸核验",
    AuthMethod.ONSITE: "到现场核验",
}


def level_of(methods: str | None) -> int:
    """The level a set of methods proves ('2^3' -> 3, '' -> 0): the strongest of them."""
    return max((LEVELS.get(m, 0) for m in (methods or "").split("^") if m), default=0)


def proves_phone(methods: str | None) -> bool:
    return has_method(methods, AuthMethod.THREE_FACTOR)


def step_up_methods(required: int, filed: str | None) -> list[str]:
    """The app's filed methods that reach ``required`` (face reaches it through the on-site step)."""
    offered, filed_methods = [], (filed or "").split("^")
    for method in AuthMethod:
        if method not in filed_methods:
            continue
        reaches = LEVELS[method] if method != AuthMethod.FACE else LEVELS[AuthMethod.ONSITE]
        if reaches >= required:
            offered.append(method.value)
    return offered


def step_up_message(required: int, filed: str | None) -> str:
    """What the resident reads when a check below the card's level passed: which stronger method will do."""
    names = "、".join(PLAIN_NAMES[AuthMethod(m)] for m in step_up_methods(required, filed))
    if not names:
        return "该证件已通过更高级别的实名认证,本应用未备案相应认证方式,请携带本人证件到现场核验点办理"
    return f"该证件已通过更高级别的实名认证,为保护本人权益,请改用{names}完成认证"
