"""The chat page in real headless Chromium (Debian's, driven by Playwright): stream, cite, open the passage."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("serve_fakes", Path(__file__).with_name("conftest.py"))
fakes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fakes)

ARTIFACTS = fakes.ARTIFACTS
pytestmark = [pytest.mark.slow, fakes.NEEDS_CHROMIUM]


def test_ask_stream_cite_and_read_passage(page, live_server):
    from playwright.sync_api import expect

    chain = fakes.FakeChain(delay_s=0.08)
    server = live_server(chain=chain)
    page.goto(server.url + "/")
    expect(page.locator("#status")).to_contain_text("2 passages")
    expect(page.locator("#question")).to_be_focused()
    page.fill("#question", "what is EMA in diffusion")
    page.keyboard.press("Enter")

    answer = page.locator(".msg.bot .answer").last
    page.wait_for_selector(".msg.bot.streaming .answer:not(:empty)")
    partial = answer.text_content()
    assert partial and not partial.startswith("Diffusion models sample from an EMA of the weights [1].")
    page.wait_for_selector(".msg.bot[data-done='true']")
    assert answer.text_content() == "Diffusion models sample from an EMA of the weights [1]."

    marker = answer.locator("button.cite").first
    assert marker.get_attribute("aria-label").startswith("Source 1: diffusion.md")
    marker.click()
    panel = page.locator("#passage")
    panel.wait_for(state="visible")
    page.wait_for_selector("#passage-text mark")
    assert page.locator("#passage-file").text_content() == "diffusion.md"
    assert page.locator("#passage-heading").text_content() == "Diffusion models > EMA weights"
    assert page.locator("#passage-lines").text_content() == "lines 5–6"
    mark = page.locator("#passage-text mark").text_content()
    assert mark == "exponential moving average (EMA) of the network weights"
    assert "Samples are drawn from the EMA weights" in page.locator("#passage-text").text_content()
    expect(page.locator("#passage-title")).to_be_focused()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat_page.png"), full_page=True)

    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(marker).to_be_focused()
    page.fill("#question", "who won the 1998 world cup")
    page.keyboard.press("Enter")
    page.wait_for_selector(".msg.bot.abstained .badge")
    assert page.locator(".msg.bot.abstained .badge").text_content() == "Not in your notes"
    expect(page.locator("#question")).to_be_focused()
    page.screenshot(path=str(ARTIFACTS / "chat_page_refusal.png"), full_page=True)
