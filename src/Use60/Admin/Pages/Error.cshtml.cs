using System.Diagnostics;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Use60.Admin.Pages;

/// <summary>Shown for exceptions and error statuses on the admin site: what happened in plain words, never a stack trace.</summary>
[AllowAnonymous]
[IgnoreAntiforgeryToken]
public sealed class ErrorModel : PageModel
{
    public int Status { get; private set; }
    public string RequestId { get; private set; } = "";
    public bool ShowRequestId => Status >= 500;

    public void OnGet([FromQuery] int? status) => Show(status);

    public void OnPost([FromQuery] int? status) => Show(status);

    void Show(int? status)
    {
        // Without a status it is the exception handler's re-execution (a 500), unless nothing failed: then someone simply opened the address.
        Status = status is >= 400 and <= 599 ? status.Value
            : HttpContext.Features.Get<IExceptionHandlerFeature>() is not null ? StatusCodes.Status500InternalServerError
            : StatusCodes.Status404NotFound;
        Response.StatusCode = Status;
        RequestId = Activity.Current?.TraceId.ToString() ?? HttpContext.TraceIdentifier;
    }

    public string Headline => Status switch
    {
        400 => "That request could not be accepted",
        404 => "Page not found",
        405 => "That request could not be accepted",
        _ when Status >= 500 => "Something went wrong on our side",
        _ => "That did not work",
    };

    public string Explanation => Status switch
    {
        400 => "The form may have been open too long or submitted twice. Reload the page and try again.",
        404 => "There is no admin page at this address.",
        _ when Status >= 500 => "Nothing you did caused this. The error is in the server's log; try again in a moment.",
        _ => "Go back and try again.",
    };
}
