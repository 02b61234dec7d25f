from flask import jsonify, request

from app.extensions import csrf
from app.services.errors import ServiceError
from app.webhooks.incoming import receive_webhook
from app.webhooks.routes import bp


@bp.post("/<source>")
@csrf.exempt  # authenticated by the source's signature or shared secret instead
def receive(source):
    try:
        result = receive_webhook(source, dict(request.headers), request.get_data())
    except ServiceError as error:
        return jsonify(error=error.message), getattr(error, "status", 400)
    return jsonify(result), 200
