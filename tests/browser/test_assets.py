"""A technician on call finds an alert about a host nobody recorded, makes the asset for it in
Chromium, and the next alert about that host goes straight to its service."""

import json
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def _option(select, wanted) -> tuple[str, str]:
    """(value, label) of the first option whose label passes `wanted`."""
    for option in select.locator("option").all():
        label = option.inner_text().strip()
        if wanted(label):
            return option.get_attribute("value"), label
    raise AssertionError(f"no option wanted among {select.locator('option').all_inner_texts()}")


def _post_alert(live_app, token, instance, fingerprint) -> dict:
    """One firing alert naming only its instance and severity, as Alertmanager posts it."""
    body = {
        "version": "4",
        "status": "firing",
        "receiver": "msp",
        "groupKey": '{}:{alertname="NodeFilesystemAlmostFull"}',
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "NodeFilesystemAlmostFull",
                    "instance": instance,
                    "severity": "warning",
                },
                "annotations": {"summary": "Disk 97% full on nas02"},
                "startsAt": "2026-12-05T02:10:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": fingerprint,
            }
        ],
    }
    request = urllib.request.Request(
        live_app.url + "/api/v1/alertmanager",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=20) as answer:
        assert answer.status == 200
        return json.load(answer)


def test_an_unknown_host_is_routed_to_a_new_asset_and_its_next_alert_goes_through(
    sign_in, live_app
):
    page = sign_in("tech")
    unrouted = page.locator("#unrouted-count")
    expect(unrouted).to_contain_text("alerts with an unknown host")
    unrouted.locator("a").click()
    expect(page.locator("h1")).to_have_text("Unrouted alerts")
    row = page.locator("#unrouted tbody tr", has_text="nas02.")
    expect(row).to_contain_text("Disk 93% full on nas02")
    expect(row).to_contain_text("firing")
    screenshot(page, "unrouted")
    host = row.locator("td").first.inner_text().strip()  # nas02.<client>.lan
    row.locator("a:has-text('Route to asset')").click()
    expect(page.locator("h1")).to_have_text(f"Route {host} to an asset")

    # The host names its client's domain; its monitoring service will receive its incidents.
    domain = host.split(".")[1]
    form = page.locator("#new_asset_form")
    expect(form.locator("input[name=name]")).to_have_value(host)
    client_value, client = _option(
        form.locator("select[name=client_id]"), lambda label: label.lower().startswith(domain)
    )
    form.locator("select[name=client_id]").select_option(client_value)
    form.locator("select[name=kind]").select_option("server")
    service_value, service = _option(
        form.locator("select[name=service_id]"),
        lambda label: label.startswith(f"{client} · ") and "Monitoring" in label,
    )
    form.locator("select[name=service_id]").select_option(service_value)
    form.locator("button:has-text('Create the asset and route')").click()

    # The alert is still firing: its incident is open on that service, about the new asset.
    expect(page.locator("#flash")).to_contain_text(f"Routed: {host} is now an identifier")
    expect(page.locator("h1")).to_have_text("Disk 93% full on nas02")
    main = page.locator("#incident_main")
    expect(main).to_contain_text(service.split(" · ", 1)[1])
    expect(page.locator("#incident_asset")).to_contain_text(host)

    # Monitoring's next alert about the host goes straight through: an incident, not a wait.
    token = live_app.flask("tokens", "create", "Prometheus (browser test)").splitlines()[1].strip()
    answer = _post_alert(live_app, token, f"{host}:9100", "b0b0b0b0nas02")
    assert answer["unrouted"] == 0, answer
    page.goto(live_app.url + "/assets?q=" + host)
    page.locator("#assets_table a", has_text=host).first.click()
    expect(page.locator("h1")).to_contain_text(host)
    incidents = page.locator("#asset_incidents")
    expect(incidents).to_contain_text("Disk 93% full on nas02")
    expect(incidents).to_contain_text("Disk 97% full on nas02")
    expect(page.locator("#asset_services")).to_contain_text(service.split(" · ", 1)[1])

    page.goto(live_app.url + "/assets")
    expect(page.locator("h1")).to_have_text("Assets")
    # No alert waits any more for nas02; the other demo host still does.
    expect(page.locator("#unrouted-count")).to_contain_text("1 alert with an unknown host")
    screenshot(page, "assets")
