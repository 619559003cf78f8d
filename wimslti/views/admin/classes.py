"""The classes the gateway made: per class its users, activities and grade links."""

from pyramid.view import view_config, view_defaults

from wimslti.resources.admin import ClassContainer, ClassResource
from wimslti.security import Permissions
from wimslti.services.admin import AdminService, state_of
from wimslti.services.class_links import ClassLinksService
from wimslti.views.admin import AdminViews

PAGE_SIZE = 50


@view_defaults(permission=Permissions.VIEW)
class ClassViews(AdminViews):
    @view_config(context=ClassContainer, renderer="admin/class_list.jinja2")
    def index(self) -> dict:
        page = self.request.GET.get("page", "1")
        number = int(page) if page.isdigit() and 0 < len(page) < 7 else 1
        number = max(number, 1)
        service = self.request.find_service(AdminService)
        rows, total = service.classes(offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        return {
            "rows": rows,
            "total": total,
            "page": number,
            "pages": max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
        }

    @view_config(context=ClassResource, renderer="admin/class_show.jinja2")
    def show(self) -> dict:
        service = self.request.find_service(AdminService)
        wims_class = self.context.record
        links = service.class_grade_links(wims_class)
        return {
            "wims_class": wims_class,
            "users": service.class_users(wims_class),
            "activities": service.class_activities(wims_class),
            "links": [(link, state_of(link)) for link in links],
            # What the class's teachers see: listsheets and listexams.
            "class_items": self.request.find_service(ClassLinksService).items(
                wims_class
            ),
        }
