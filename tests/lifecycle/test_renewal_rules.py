from webapp.lifecycle.renewals import ReminderDecision, reminder_due

T = [30, 14, 7]


def test_nothing_is_due_before_the_first_threshold():
    assert reminder_due(31, T, set()) == ReminderDecision(None, ())


def test_each_threshold_is_due_once():
    assert reminder_due(30, T, set()) == ReminderDecision(30, ())
    assert reminder_due(29, T, {30}) == ReminderDecision(None, ())
    assert reminder_due(14, T, {30}) == ReminderDecision(14, ())


def test_missed_days_send_only_the_nearest_and_record_the_rest_as_skipped():
    assert reminder_due(10, T, set()) == ReminderDecision(14, (30,))
    assert reminder_due(3, T, set()) == ReminderDecision(7, (14, 30))


def test_an_older_threshold_never_goes_out_after_a_nearer_one():
    assert reminder_due(5, T, {7}) == ReminderDecision(None, (14, 30))


def test_an_ended_term_gets_no_reminder():
    assert reminder_due(-1, T, set()) == ReminderDecision(None, ())
