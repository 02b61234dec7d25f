from app.extensions import db
from app.models import Problem, Role


def test_public_filing_starts_a_problem_in_triage(client):
    response = client.post("/", data={"text": "The lift at the station is broken again.", "location": "Branch visit"})
    assert response.status_code == 302
    assert "/r/" in response.headers["Location"]
    problem = db.session.scalar(db.select(Problem))
    assert problem.status == "new"
    assert problem.people_affected == 1


def test_leader_sees_triage(client, auth, make_user, make_report):
    leader = make_user(Role.LEADER)
    make_report(text="Parcel left in the rain")
    auth.login(leader)
    page = client.get("/triage").get_data(as_text=True)
    assert "Parcel left in the rain" in page
