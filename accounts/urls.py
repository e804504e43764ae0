from django.urls import path

from accounts import views

urlpatterns = [
    path("accounts/login/", views.login_view, name="login"),
    path("accounts/logout/", views.logout_view, name="logout"),
    path("account/", views.account_home, name="account-home"),
]
