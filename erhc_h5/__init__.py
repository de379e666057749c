"""erhc-h5: the city health-code platform's H5 real-name authentication module."""
from __future__ import annotations

from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(overrides: dict | None = None) -> Flask:
    """Build the WSGI app: configuration, extensions, blueprints and CLI; no I/O here."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_relative_config=True,
    )
    from erhc_h5 import config

    config.load(app, overrides)
    from erhc_h5.afterwards import AfterResponse

    app.wsgi_app = AfterResponse(app.wsgi_app)  # link notices and filing deliveries, after the response
    hops = int(app.config["TRUSTED_PROXIES"])
    if hops > 0:  # behind a reverse proxy: take client address and scheme from its headers
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    from erhc_h5 import db, errors, logs
    from erhc_h5.extensions import csrf, limiter, login_manager
    from erhc_h5.security import headers, inputs

    db.init_app(app)
    logs.init_app(app)
    headers.init_app(app)
    inputs.init_app(app)  # before the blueprints: it installs the database-sized <int:> converter
    csrf.init_app(app)
    limiter.init_app(app)  # fails open to process memory when its store is down (extensions.py)
    login_manager.init_app(app)
    errors.init_app(app)
    from erhc_h5.timefmt import beijing_filter

    app.add_template_filter(beijing_filter, "beijing")

    from erhc_h5.apidoc.views import bp as apidoc_bp
    from erhc_h5.code.views import bp as code_bp
    from erhc_h5.filing.province_api import bp as province_filing_bp
    from erhc_h5.filing.views import bp as filing_bp
    from erhc_h5.ops.views import bp as ops_bp
    from erhc_h5.resident.views import bp as resident_bp
    from erhc_h5.scan.province_views import bp as province_verify_bp
    from erhc_h5.scan.views import bp as scan_bp
    from erhc_h5.staff.admin import bp as admin_bp
    from erhc_h5.staff.cards import bp as cards_bp
    from erhc_h5.staff.onsite_views import bp as onsite_bp
    from erhc_h5.staff.unlock import bp as unlock_bp
    from erhc_h5.staff.views import bp as staff_bp
    from erhc_h5.sandbox.receiver import bp as province_bp

    for bp in (staff_bp, admin_bp, cards_bp, onsite_bp, unlock_bp, resident_bp, code_bp, scan_bp, province_verify_bp,
               filing_bp, province_filing_bp, ops_bp):
        app.register_blueprint(bp)
    app.register_blueprint(apidoc_bp)
    if app.config["SANDBOX"]:
        from erhc_h5.sandbox.filings import bp as sandbox_filings_bp
        from erhc_h5.sandbox.vaccination import bp as sandbox_vaccination_bp

        from erhc_h5.sandbox import staff_only_when_staging

        app.register_blueprint(province_bp)
        app.register_blueprint(sandbox_filings_bp)
        app.register_blueprint(sandbox_vaccination_bp)
        staff_only_when_staging(app)

    from erhc_h5 import cli

    cli.init_app(app)
    errors.guard_context_processors(app)  # last: blueprints add their context processors when registered
    return app
