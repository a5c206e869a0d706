"""Ticker matching: real names and aliases, and the false hits it must avoid."""

from __future__ import annotations

import pytest

from quartz_cli.domain.matching import TickerMatcher
from quartz_cli.domain.universe import bundled_universe


@pytest.fixture(scope="module")
def matcher() -> TickerMatcher:
    return TickerMatcher(bundled_universe())


def codes(m: TickerMatcher, text: str) -> list[str]:
    return [x.code for x in m.find(text)]


@pytest.mark.parametrize("text", [
    "삼성 그룹 계열사들이 사장단 인사를 앞두고 있다.",
    "SK는 비핵심 자산을 정리한다고 밝혔다.",
    "LG는 구광모 회장 체제 7년을 맞았다.",
    "현대 계열 사장단이 모였다.",
    "SK그룹과 LG그룹, 삼성그룹이 투자를 늘렸다.",
    "현대차그룹 정의선 회장이 방미했다.",
    "한전KPS가 정비 계약을 따냈다.",
    "HLB생명과학도 동반 하락했다.",
    "삼성전자서비스 노조가 파업했다.",
    "LG이노텍은 약세였다.",
    "하나금융투자 리포트에 따르면",
    "KTX 이용객이 늘었다.",
    "SKT1 팀이 우승했다.",
])
def test_group_names_and_longer_names_do_not_match(matcher: TickerMatcher, text: str) -> None:
    assert codes(matcher, text) == []


def test_substring_of_another_name_matches_only_the_longer(matcher: TickerMatcher) -> None:
    assert codes(matcher, "LG화학과 LG전자가 동반 상승했다.") == ["051910", "066570"]
    assert codes(matcher, "KT&G가 배당을 늘렸다.") == ["033780"]
    assert codes(matcher, "에코프로비엠이 급락하자 에코프로도 밀렸다.") == ["247540", "086520"]
    assert codes(matcher, "SK하이닉스와 SK텔레콤") == ["000660", "017670"]


def test_particles_and_aliases(matcher: TickerMatcher) -> None:
    assert codes(matcher, "삼성전자가 올랐다") == ["005930"]
    assert codes(matcher, "삼성전자에서는 부인했다") == ["005930"]
    assert codes(matcher, "삼바의 수주") == ["207940"]
    assert codes(matcher, "한전의 적자") == ["015760"]
    assert codes(matcher, "KT가 요금을 올렸다") == ["030200"]
    assert codes(matcher, "바이오株 강세 속 셀트리온株도") == ["068270"]


def test_corporate_forms_of_group_named_companies(matcher: TickerMatcher) -> None:
    assert codes(matcher, "지주사 (주)LG는 보합") == ["003550"]
    assert codes(matcher, "SK㈜가 자사주를 소각한다") == ["034730"]
    assert codes(matcher, "LG지주 주가") == ["003550"]


def test_common_word_names_need_their_corporate_form() -> None:
    from quartz_cli.domain.universe import Listing, Tier, Universe

    uni = Universe([Listing("001680", "대상", "KOSPI", Tier.MID, "식품", 20000, ())])
    m = TickerMatcher(uni)
    assert codes(m, "투자 대상으로 적합하다.") == []
    assert codes(m, "㈜대상이 실적을 발표했다.") == ["001680"]


def test_latin_names_any_case(matcher: TickerMatcher) -> None:
    assert codes(matcher, "Shares of samsung electronics rose.") == ["005930"]
    assert codes(matcher, "naver와 카카오") == ["035420", "035720"]


def test_each_match_keeps_its_sentence(matcher: TickerMatcher) -> None:
    text = "코스피가 올랐다. 셀트리온이 유럽 승인을 받았다. 카카오는 약세였다."
    found = {m.code: m.sentence for m in matcher.find(text)}
    assert found == {"068270": "셀트리온이 유럽 승인을 받았다.", "035720": "카카오는 약세였다."}
