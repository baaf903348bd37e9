
app_name = "issues"
urlpatterns: list = []
