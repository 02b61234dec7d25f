from flask import jsonify, request

from ..extensions import csrf
from ..services import ServiceError
from ..services.webhooks import receive_webhook
from . import bp


@bp.post("/<source>")
@csrf.exempt  # authenticated by the source's signature or shared secret instead
def receive(source):
    try:
        result = receive_webhook(source, dict(request.headers), request.get_data())
    except ServiceError as error:
        return jsonify(error=error.message), getattr(error, "status", 400)
    return jsonify(result), 200
