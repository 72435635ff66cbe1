using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Use60.Admin.Pages;

/// <summary>GET shows whose link this is and spends nothing; the POST (with its antiforgery token) signs in.</summary>
[AllowAnonymous]
public sealed class LoginModel(AdminLoginLinks links) : PageModel
{
    public LinkState State { get; private set; }
    public LinkHolder? Holder { get; private set; }
    public string? Token { get; private set; }

    public async Task OnGetAsync([FromQuery] string? token, CancellationToken cancellationToken)
    {
        Token = token;
        (State, Holder) = await links.PeekAsync(token, cancellationToken);
        if (State != LinkState.Valid) Response.StatusCode = StatusFor(State);
    }

    public async Task<IActionResult> OnPostAsync([FromForm] string? token, CancellationToken cancellationToken)
    {
        var (state, holder, session) = await links.RedeemAsync(token, HttpContext, cancellationToken);
        if (state != LinkState.Valid || holder is null || session is null)
        {
            (State, Holder) = (state, holder);
            Response.StatusCode = StatusFor(state);
            return Page();
        }
        await HttpContext.SignInAsync(AdminClaims.Scheme, AdminClaims.Create(holder.User, session),
            new AuthenticationProperties { IsPersistent = false });
        return LocalRedirect("/admin");
    }

    static int StatusFor(LinkState state) => state is LinkState.Used or LinkState.Expired
        ? StatusCodes.Status410Gone
        : StatusCodes.Status404NotFound;

    public string Headline => State switch
    {
        LinkState.Used => "This sign-in link has already been used",
        LinkState.Expired => "This sign-in link has expired",
        _ => "This sign-in link is not valid",
    };

    public string Explanation => State switch
    {
        LinkState.Used => "Each link signs in once, so that a link seen by someone else later is worthless.",
        LinkState.Expired => "Links last 10 minutes.",
        _ => "It may have been copied only in part. Check that you used the whole link.",
    };
}
