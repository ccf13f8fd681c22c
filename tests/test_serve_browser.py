"""`derive serve` in a real browser: headless Chromium driven by Selenium, used as a person
would use the page. Without Chromium, chromedriver or selenium these tests skip, except
under CI=true, where .ci/run installs them."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from support.serve_client import SPARSE_CODING, running_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
try:
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # pragma: no cover - checked below
    webdriver = None

MISSING = [name for name, found in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER),
                                    ("selenium", webdriver)) if not found]
if MISSING and os.environ.get("CI") != "true":
    pytest.skip(f"needs {', '.join(MISSING)}", allow_module_level=True)

# Headless, as root, offline: nothing but the page's own server is contacted.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1280,1600")
GRADIENT = r"\nabla_{A} F = 2 \left(A s - x\right) s^{\top} + 2 \gamma A"
WAIT = 60   # seconds a step may take on a loaded machine before the test fails


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    if MISSING:
        pytest.fail(f"CI=true and {', '.join(MISSING)} missing: .ci/run installs them")
    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('profile')}")
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    with running_server(workers=2, time_limit=20) as server:
        driver = webdriver.Chrome(options, webdriver.ChromeService(CHROMEDRIVER))
        try:
            driver.execute_cdp_cmd("Page.setDownloadBehavior",
                                   {"behavior": "allow", "downloadPath": str(downloads)})
            driver.url = server.url
            driver.downloads = downloads
            yield driver
        finally:
            driver.quit()


def wait(driver, condition, what: str):
    return WebDriverWait(driver, WAIT).until(lambda d: condition(d), f"waited for {what}")


def shown_tex(driver) -> list[str]:
    """The TeX of every formula KaTeX rendered in the result (it keeps it as an annotation)."""
    return [a.get_attribute("textContent") for a in driver.find_elements(
        By.CSS_SELECTOR, "#math annotation, #where annotation")]


def type_into(driver, field: str, text: str) -> None:
    box = driver.find_element(By.ID, field)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(text)


def type_sparse_coding(driver) -> None:
    driver.get(driver.url)
    wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state")
         in ("ready", "error", "idle"), "the page")
    type_into(driver, "formula", SPARSE_CODING)
    type_into(driver, "wrt", "A")
    type_into(driver, "shapes", "s=n,k x=m,k")
    wait(driver, lambda d: GRADIENT in shown_tex(d), "the rendered gradient")


def test_typing_the_sparse_coding_cost_shows_its_gradient(page):
    type_sparse_coding(page)
    assert page.find_elements(By.CSS_SELECTOR, "#math .katex-html")   # rendered, not source
    assert "gamma: scalar" in page.find_element(By.ID, "kinds").text
    assert "PASS" in page.find_element(By.ID, "check").text
    assert "Backward pass" in page.find_element(By.ID, "steps").get_attribute("textContent")
    assert "f=norm" in page.current_url and "wrt=A" in page.current_url


def test_the_code_tabs_switch(page):
    type_sparse_coding(page)
    page.find_element(By.CSS_SELECTOR, "[data-target=jax]").click()
    assert page.find_element(By.ID, "code").text.startswith("import jax")
    assert "tab=jax" in page.current_url
    page.find_element(By.CSS_SELECTOR, "[data-target=matlab]").click()
    assert page.find_element(By.ID, "code").text.startswith("function [value, grad_A]")


def test_the_downloaded_numpy_file_runs(page, tmp_path):
    type_sparse_coding(page)
    page.find_element(By.CSS_SELECTOR, "[data-target=numpy]").click()
    page.find_element(By.ID, "download").click()
    saved = page.downloads / "derive_grad_numpy.py"
    wait(page, lambda d: saved.exists() and saved.stat().st_size > 0, "the download")
    # The gradient by hand (UFLDL's sparse coding): 2 (A s - x) s^T + 2 gamma A.
    script = tmp_path / "use.py"
    script.write_text(
        "import numpy as np, sys\n"
        f"sys.path.insert(0, {str(page.downloads)!r})\n"
        "from derive_grad_numpy import grad_A, value_and_grad\n"
        "rng = np.random.default_rng(1)\n"
        "A, s, x = rng.normal(size=(4, 3)), rng.normal(size=(3, 5)), rng.normal(size=(4, 5))\n"
        "by_hand = 2 * (A @ s - x) @ s.T + 2 * 0.3 * A\n"
        "assert np.allclose(grad_A(A, 0.3, s, x), by_hand)\n"
        "value, grad = value_and_grad(A, 0.3, s, x)\n"
        "assert np.isclose(value, np.sum((A @ s - x) ** 2) + 0.3 * np.sum(A ** 2))\n"
        "print('ran')\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "ran", done.stderr


def test_a_broken_formula_shows_the_caret_and_the_page_keeps_working(page):
    type_sparse_coding(page)
    type_into(page, "formula", "norm(A*s - , 'fro')^2")
    wait(page, lambda d: d.find_element(By.ID, "error").is_displayed(), "the error")
    lines = page.find_element(By.ID, "error-text").get_attribute("textContent").splitlines()
    assert lines[0].startswith("line 1, column 12: expected an operand")
    assert lines[1:] == ["  norm(A*s - , 'fro')^2", "  " + " " * 11 + "^"]
    type_into(page, "formula", "norm(A*s - x, 'fro')^2")
    wait(page, lambda d: r"\nabla_{A} F = 2 \left(A s - x\right) s^{\top}" in shown_tex(d),
         "the page to derive again")
    assert not page.find_element(By.ID, "error").is_displayed()


def test_a_shared_link_opens_the_same_derivation(page):
    type_sparse_coding(page)
    page.find_element(By.CSS_SELECTOR, "[data-target=torch]").click()
    link = page.current_url
    page.get("about:blank")
    page.get(link)
    wait(page, lambda d: GRADIENT in shown_tex(d), "the shared derivation")
    assert page.find_element(By.ID, "formula").get_attribute("value") == SPARSE_CODING
    assert page.find_element(By.ID, "shapes").get_attribute("value") == "s=n,k x=m,k"
    assert page.find_element(By.ID, "code").text.startswith("import torch")


def test_a_link_written_by_hand(page):
    page.get(page.url + "?f=x%27*A*x&wrt=x&what=hess")
    wait(page, lambda d: any(t.startswith(r"\nabla^2_{x} F =") for t in shown_tex(d)),
         "the Hessian")
    assert page.find_element(By.ID, "math-title").text.lower() == "hessian"


def test_a_recipe_from_the_menu(page):
    page.get(page.url)
    menu = page.find_element(By.ID, "recipe")
    wait(page, lambda d: len(menu.find_elements(By.TAG_NAME, "option")) > 10, "the recipes")
    Select(menu).select_by_value("softmax_regression")
    wait(page, lambda d: any(t.startswith(r"\nabla_{") for t in shown_tex(d))
         and "Theta" in d.find_element(By.ID, "wrt").get_attribute("value"), "the recipe")
    assert "softmax" in page.find_element(By.ID, "formula").get_attribute("value")


def test_the_hessian_vector_product_where_asked(page):
    type_sparse_coding(page)
    Select(page.find_element(By.ID, "what")).select_by_value("hvp")
    wait(page, lambda d: any(t.startswith(r"\left(\nabla^2 F\, d\right)_{A} =")
                             for t in shown_tex(d)), "the product")
    assert "what=hvp" in page.current_url
