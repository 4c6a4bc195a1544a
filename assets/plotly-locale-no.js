/* plotly.js locale "no" (Norwegian), from the npm package plotly.js-locales 3.7.0 (MIT licence,
   Copyright (c) 2021 Plotly, Inc). Served from assets because the CSP allows scripts from this
   site only; plotly.js registers window.PlotlyLocales when it loads after this file. */
(function () {
var locale = {
    moduleType: 'locale',
    name: 'no',
    dictionary: {
        'Autoscale': 'Autoskalere',
        'Box Select': 'Velg rektangel',
        'Click to enter Colorscale title': 'Klikk for å oppgi tittel på fargeskala',
        'Click to enter Component A title': 'Klikk for å oppgi tittel på komponent A',
        'Click to enter Component B title': 'Klikk for å oppgi tittel på komponent B',
        'Click to enter Component C title': 'Klikk for å oppgi tittel på komponent C',
        'Click to enter Plot title': 'Klikk for å oppgi tittel på plot',
        'Click to enter X axis title': 'Klikk for å oppgi tittel på x-akse',
        'Click to enter Y axis title': 'Klikk for å oppgi tittel på y-akse',
        'Click to enter radial axis title': 'Klikk for å oppgi tittel på radiell akse',
        'Compare data on hover': 'Sammenligne data når musepekeren holdes åver',
        'Double-click on legend to isolate one trace': 'Dobbelklikk på på forklaringen for å vise bare en serie',
        'Double-click to zoom back out': 'Dobbelklikk for å zoome ut igjen',
        'Download plot': 'Last ned plot',
        'Download plot as a PNG': 'Last ned plot som PNG',
        'Edit in Chart Studio': 'Editer i Chart Studio',
        'IE only supports svg.  Changing format to svg.': 'IE støtter bare svg. Bytt format til svg.',
        'Lasso Select': 'Velg lasso',
        'Orbital rotation': 'Orbital rotasjon',
        'Pan': 'Panne',
        'Produced with Plotly': 'Laget med Plotly',
        'Reset': 'Nullstille',
        'Reset akses': 'Nullstille akser',
        'Reset camera to default': 'Nullstille kamera til standard',
        'Reset camera to last save': 'Nullstille kamera til siste lagret',
        'Reset view': 'Nullstille visning',
        'Reset views': 'Nullstille visninger',
        'Show closest data on hover': 'Vis nærmeste verdi når musepekeren holdes over',
        'Snapshot succeeded': 'Bilde Laget',
        'Sorry, there was a problem downloading your snapshot!': 'Beklager, noe gikk galt under nedlasting av bildet',
        'Taking snapshot - this may take a few seconds': 'Oppretter bilde - dette kan ta noen sekunder',
        'Toggle Spike Lines': 'Aktiver / deaktiver topplinjer',
        'Toggle show closest data on hover': 'Aktiver / deaktiver nærmeste verdi når musepekeren holdes over',
        'Turntable rotation': 'Flat rotation',
        'Zoom': 'Zoom',
        'Zoom in': 'Zoom inn',
        'Zoom out': 'Zoom ut',
        'close:': 'steng:',
        'concentration:': 'konsentrasjon:',
        'high:': 'høy:',
        'incoming flow count:': 'innkommende strømningssammendrag:',
        'kde:': 'kde:',
        'lat:': 'lat:',
        'lon:': 'lon:',
        'low:': 'lav:',
        'lower fence:': 'lavere grense',
        'max:': 'maks:',
        'mean ± σ:': 'gjennomsnitt ± σ:',
        'mean:': 'gjennomsnitt:',
        'median:': 'median:',
        'min:': 'min:',
        'new text': 'ny text',
        'open:': 'åpen:',
        'outgoing flow count:': 'utgående strømningssammendrag:',
        'q1:': 'q1:',
        'q3:': 'q3:',
        'source:': 'kilde:',
        'target:': 'mål:',
        'trace': 'serie',
        'upper fence:': 'øvre grense:',
    },
    format: {
        days: ['Søndag', 'Mandag', 'Tirsdag', 'Onsdag', 'Torsdag', 'Fredag', 'Lørdag'],
        shortDays: ['Søn', 'Man', 'Tir', 'Ons', 'Tor', 'Fre', 'Lør'],
        months: [
            'Januar', 'Februar', 'Mars', 'April', 'Mai', 'Juni',
            'Juli', 'August', 'September', 'Oktober', 'November', 'Desember'
        ],
        shortMonths: [
            'Jan', 'Feb', 'Mar', 'Apr', 'Mai', 'Jun',
            'Jul', 'Aug', 'Sep', 'Okt', 'Nov', 'Des'
        ],
        date: '%d.%m.%Y',
        decimal: ',',
        thousands: ' ',
    }
};
if (typeof window.Plotly === "undefined") {
  window.PlotlyLocales = window.PlotlyLocales || [];
  window.PlotlyLocales.push(locale);
} else {
  window.Plotly.register(locale);
}
})();
